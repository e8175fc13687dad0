"""Image → embedding with a KD-SAM (or any SAM-like) image encoder, and embedding + prompt → mask
with its prompt encoder and mask decoder (one image at a time; shared by evaluation and training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from segment_anything.modeling import Sam
from torch import nn

from kdsam_core.transforms import apply_coords, prepare_image, preprocess_shape

if TYPE_CHECKING:
    from kdsam_core.training.prompts import Prompt


@dataclass(frozen=True)
class ImageEmbedding:
    """An encoder output with the sizes the decoder needs."""

    embedding: np.ndarray  #: (1, 256, G, G) float32
    original_size: tuple[int, int]  #: (H, W)
    input_size: tuple[int, int]  #: (h', w') after the longest-side resize


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo).

    Elsewhere PyTorch emulates bf16 and it is several times slower than float32 (BENCHMARKS.md,
    serving paths), so callers only choose bf16 on the CPU when this holds.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


def run_image_encoder(
    encoder: nn.Module, images: torch.Tensor, device: torch.device, cpu_bf16: bool = False
) -> torch.Tensor:
    """Run an image encoder on ``images`` ``(B, 3, S, S)`` float32 (normalised and padded like SAM's);
    returns the embeddings ``(B, 256, G, G)`` float32 on ``device``.

    On CUDA the encoder runs in bf16 autocast with channels_last input; on the CPU in float32, or
    with ``cpu_bf16`` in bf16 autocast with channels_last input. Gradients follow the caller's
    mode (wrap the call in ``torch.inference_mode()`` to serve).
    """
    images = images.to(device)
    if device.type == "cuda" or cpu_bf16:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            embeddings = encoder(images.contiguous(memory_format=torch.channels_last))
    else:
        embeddings = encoder(images)
    return embeddings.float()


@torch.inference_mode()
def embed_image(
    model: Sam, image: np.ndarray, device: torch.device | str = "cpu", cpu_bf16: bool = False
) -> ImageEmbedding:
    """Preprocess an ``(H, W, 3)`` uint8 RGB image exactly like SAM and run the image encoder.

    On CUDA the encoder runs in bf16 autocast with channels_last input; on the CPU in float32, or
    with ``cpu_bf16`` in bf16 autocast with channels_last input (the fastest CPU path on CPUs with
    native bf16; see :func:`cpu_has_native_bf16`). The embedding is always float32 (1, 256, G, G).
    """
    device = torch.device(device)
    prepared = prepare_image(image, model.image_encoder.img_size)
    embedding = run_image_encoder(model.image_encoder, prepared.tensor, device, cpu_bf16)
    return ImageEmbedding(
        embedding=embedding.cpu().numpy(),
        original_size=prepared.original_size,
        input_size=prepared.input_size,
    )


def prompt_tensors(
    prompt: Prompt, original_size: tuple[int, int], long_side: int, device: torch.device
) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, torch.Tensor | None]:
    """``(points, boxes)`` arguments of ``PromptEncoder.forward`` in the model's input space.

    ``points`` is ``(coords (1, N, 2) float32, labels (1, N) int64)`` or ``None``; ``boxes`` is
    ``(1, 4)`` float32 ``x0, y0, x1, y1`` or ``None``. ``original_size`` is ``(H, W)``.
    """
    points = boxes = None
    if prompt.points is not None and len(prompt.points):
        coords = torch.as_tensor(apply_coords(prompt.points, original_size, long_side), dtype=torch.float32)
        labels = torch.as_tensor(prompt.labels, dtype=torch.int64)
        points = (coords[None].to(device), labels[None].to(device))
    if prompt.box is not None:
        box = apply_coords(prompt.box.reshape(2, 2), original_size, long_side).reshape(1, 4)
        boxes = torch.as_tensor(box, dtype=torch.float32, device=device)
    return points, boxes


def decode(
    model: Sam,
    embedding: torch.Tensor,
    prompt: Prompt,
    original_size: tuple[int, int],
    mask_input: torch.Tensor | None = None,
    multimask: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the prompt encoder + mask decoder on one image embedding ``(1, 256, G, G)``.

    ``mask_input`` is an optional previous low-res mask ``(1, 1, 4G, 4G)``. Returns
    ``(low_res_logits (1, M, 4G, 4G), iou (1, M))`` with ``M`` = 3 when ``multimask`` else 1.
    """
    device = embedding.device
    points, boxes = prompt_tensors(prompt, original_size, model.image_encoder.img_size, device)
    sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
    return model.mask_decoder(
        image_embeddings=embedding,
        image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=multimask,
    )


def upscale_to_original(model: Sam, low_res: torch.Tensor, original_size: tuple[int, int]) -> torch.Tensor:
    """Low-res logits ``(B, M, 4G, 4G)`` → logits ``(B, M, H, W)`` at the original image size
    ``(H, W)`` (SAM's ``postprocess_masks``)."""
    input_size = preprocess_shape(original_size[0], original_size[1], model.image_encoder.img_size)
    return model.postprocess_masks(low_res, input_size, original_size)


class OnnxImageEncoder:
    """The student encoder through onnxruntime on the CPU.

    The fastest float32 CPU serving path with masks unchanged (BENCHMARKS.md, "Student serving
    paths": 1.3-2.9x PyTorch eager depending on the CPU, embeddings within ~1e-5); on CPUs with
    native bf16, :func:`embed_image` with ``cpu_bf16`` is faster still. Input and output are those of
    :func:`embed_image`; ``path`` is an encoder written by ``kdsam_core.export.export_encoder_onnx``.
    """

    def __init__(self, path, img_size: int, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.img_size = img_size

    def __call__(self, image: np.ndarray) -> ImageEmbedding:
        prepared = prepare_image(image, self.img_size)
        (embedding,) = self.session.run(None, {"image": prepared.tensor.numpy()})
        return ImageEmbedding(embedding=embedding, original_size=prepared.original_size, input_size=prepared.input_size)
