"""ONNX export of the student image encoder (onnxruntime on CPU servers, onnxruntime-web in browsers).

Contract: input ``image`` ``(B, 3, S, S)`` float32, already SAM-preprocessed (longest side resized to
``S``, normalised with SAM's pixel mean/std, zero-padded: :func:`kdsam_core.transforms.prepare_image`);
output ``image_embeddings`` ``(B, 256, S/16, S/16)`` float32. The batch dimension is dynamic.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch
from torch import nn

from kdsam_core.export.onnx_file import write_onnx

ENCODER_INPUT_NAMES = ["image"]
ENCODER_OUTPUT_NAMES = ["image_embeddings"]


def image_encoder(model: nn.Module) -> tuple[nn.Module, int]:
    """``model.image_encoder`` (or ``model`` itself when it is an encoder) and its input side ``S``."""
    encoder: nn.Module = getattr(model, "image_encoder", model)
    # ``img_size`` is a plain int attribute; mypy only sees nn.Module.__getattr__ (Tensor | Module)
    return encoder, int(cast(int, encoder.img_size))


def export_encoder_onnx(model: nn.Module, path: Path | str, *, opset: int = 17) -> Path:
    """Export ``model.image_encoder`` (or ``model`` itself when it is an encoder) to ``path``."""
    encoder, size = image_encoder(model)
    encoder.eval()
    dummy = torch.randn(1, 3, size, size)
    return write_onnx(
        encoder,
        [dummy],
        path,
        input_names=ENCODER_INPUT_NAMES,
        output_names=ENCODER_OUTPUT_NAMES,
        dynamic_axes={"image": {0: "batch"}, "image_embeddings": {0: "batch"}},
        opset=opset,
    )
