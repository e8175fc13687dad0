"""Image → embedding with a KD-SAM (or any SAM-like) image encoder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from segment_anything.modeling import Sam

from kdsam_core.transforms import prepare_image


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
    tensor = prepared.tensor.to(device)
    if device.type == "cuda" or cpu_bf16:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            embedding = model.image_encoder(tensor.contiguous(memory_format=torch.channels_last))
    else:
        embedding = model.image_encoder(tensor)
    return ImageEmbedding(
        embedding=embedding.float().cpu().numpy(),
        original_size=prepared.original_size,
        input_size=prepared.input_size,
    )


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
