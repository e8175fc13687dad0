"""Parity checks of exported ONNX models against PyTorch (used by ``kdsam export --check`` and tests)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    import onnxruntime as ort
    from segment_anything.modeling import Sam

#: Original image sizes (H, W) the decoder parity check covers: landscape, portrait, square, tiny.
PARITY_SIZES = ((480, 640), (777, 513), (1024, 1024), (97, 211))


def _session(path: Path | str) -> ort.InferenceSession:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def decoder_inputs(model: Sam, orig_size: tuple[int, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic decoder inputs: a random embedding, a box and one positive point."""
    from kdsam_core.transforms import apply_coords

    rng = np.random.default_rng(seed)
    grid = model.prompt_encoder.image_embedding_size
    h, w = orig_size
    box = np.array([[0.2 * w, 0.25 * h], [0.7 * w, 0.8 * h]])
    point = np.array([[0.45 * w, 0.5 * h]])
    coords = apply_coords(np.concatenate([point, box]), orig_size, model.image_encoder.img_size)
    return {
        "image_embeddings": rng.standard_normal((1, model.prompt_encoder.embed_dim, *grid)).astype(np.float32),
        "point_coords": coords[None].astype(np.float32),
        "point_labels": np.array([[1, 2, 3]], dtype=np.float32),
        "mask_input": np.zeros((1, 1, 4 * grid[0], 4 * grid[1]), dtype=np.float32),
        "has_mask_input": np.zeros(1, dtype=np.float32),
        "orig_im_size": np.array([h, w], dtype=np.float32),
    }


def decoder_parity(
    model: Sam, path: Path | str, *, multimask: bool = False, sizes: Iterable[tuple[int, int]] = PARITY_SIZES
) -> dict[str, Any]:
    """Max abs logit difference and mask IoU of the ONNX decoder vs. PyTorch at several image sizes."""
    from kdsam_core.export.decoder_onnx import DecoderOnnxModel

    reference = DecoderOnnxModel(model.cpu().eval(), return_single_mask=not multimask).eval()
    session = _session(path)
    worst_diff, worst_iou = 0.0, 1.0
    per_size: dict[str, dict[str, float]] = {}
    for size in sizes:
        feeds = decoder_inputs(model, size)
        onnx_masks = session.run(["masks"], feeds)[0]
        with torch.no_grad():
            torch_masks = reference(*[torch.from_numpy(v) for v in feeds.values()])[0].numpy()
        if onnx_masks.shape != torch_masks.shape:
            raise AssertionError(f"{path}: ONNX masks {onnx_masks.shape} vs PyTorch {torch_masks.shape} at {size}")
        diff = float(np.abs(onnx_masks - torch_masks).max())
        a, b = onnx_masks > 0, torch_masks > 0
        union = int((a | b).sum())
        iou = 1.0 if union == 0 else int((a & b).sum()) / union
        per_size[f"{size[0]}x{size[1]}"] = {"max_abs_diff": diff, "mask_iou": iou}
        worst_diff, worst_iou = max(worst_diff, diff), min(worst_iou, iou)
    return {"max_abs_diff": worst_diff, "min_mask_iou": worst_iou, "sizes": per_size}


def encoder_parity(model: nn.Module, path: Path | str, batch: int = 1, seed: int = 0) -> dict[str, Any]:
    """Max abs embedding difference of the ONNX encoder vs. PyTorch on a random ``batch``."""
    from kdsam_core.export.encoder_onnx import image_encoder

    encoder, size = image_encoder(model)
    encoder.cpu().eval()
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32))
    onnx_out = _session(path).run(["image_embeddings"], {"image": x.numpy()})[0]
    with torch.no_grad():
        torch_out = encoder(x).numpy()
    return {
        "max_abs_diff": float(np.abs(onnx_out - torch_out).max()),
        "max_abs": float(np.abs(torch_out).max()),
        "shape": list(onnx_out.shape),
    }
