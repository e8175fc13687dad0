"""What both trainers (and the embedding precomputation) share: prepared images, the epoch order,
seeding and the batched image-encoder call.

The on-disk side (filling an :class:`~kdsam_core.training.caches.EmbeddingCache` from an encoder,
naming a teacher's cache) lives in :mod:`kdsam_core.training.caches`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from kdsam_core.inference import run_image_encoder
from kdsam_core.training.data import Sample, image_hash
from kdsam_core.transforms import normalize_and_pad, resize_longest_side


class PreparedImages:
    """Loads, hashes and SAM-preprocesses images; keeps up to ``keep`` resized images in memory.

    ``hashes[i]`` is the content hash of sample ``i``'s decoded ``(H, W, 3)`` uint8 image (the
    embedding caches' key); :meth:`tensor` gives its normalised, padded ``(3, S, S)`` float32 input.
    """

    def __init__(self, samples: Sequence[Sample], img_size: int, keep: int = 64) -> None:
        self.samples = list(samples)
        self.img_size = img_size
        self.keep = keep
        self._resized: dict[int, np.ndarray] = {}
        self.hashes: list[str] = []
        for index, sample in enumerate(self.samples):
            image = sample.load_image()
            self.hashes.append(image_hash(image))
            if index < keep:
                self._resized[index] = resize_longest_side(image, img_size)

    def tensor(self, index: int) -> torch.Tensor:
        """The ``(3, S, S)`` float32 encoder input of sample ``index`` (``S = img_size``)."""
        resized = self._resized.get(index)
        if resized is None:
            resized = resize_longest_side(self.samples[index].load_image(), self.img_size)
        return normalize_and_pad(np.array(resized), self.img_size)[0]

    def __len__(self) -> int:
        return len(self.samples)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True) -> list[list[int]]:
    """The batches of one epoch: a permutation that depends only on ``(seed, epoch)``."""
    if shuffle:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(n, generator=generator).tolist()
    else:
        order = list(range(n))
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def set_determinism(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's global generators."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def encoder_of(model: nn.Module) -> nn.Module:
    """``model.image_encoder`` of a SAM-like model; a bare encoder is returned as it is."""
    encoder: nn.Module = getattr(model, "image_encoder", model)
    return encoder


def encoder_img_size(encoder: nn.Module) -> int:
    """The side ``S`` of an image encoder's square ``(B, 3, S, S)`` input (its ``img_size``)."""
    # SAM's encoders and the student store a plain int; nn.Module's typing only knows Tensor | Module.
    return int(cast(int, encoder.img_size))


@torch.inference_mode()
def encode_batch(encoder: nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Embeddings ``(B, 256, G, G)`` float32 on the CPU of ``images`` ``(B, 3, S, S)`` float32.

    The serving encoder call (:func:`~kdsam_core.inference.run_image_encoder`: bf16 autocast and
    channels_last input on CUDA, float32 on the CPU) without gradients.
    """
    return run_image_encoder(encoder, images, device).cpu()


def checkpoint_history(state_path: Path) -> list[dict[str, float]]:
    """The per-epoch records of a trainer's ``last.pt`` (one dict per finished epoch, ``epoch`` first).

    Both trainers keep the whole history in their resume checkpoint, so it is the record of what the
    run finished, even when a process died between writing it and reporting the epoch. Memory-mapped:
    the weights in the file are not read.
    """
    state = torch.load(state_path, map_location="cpu", weights_only=False, mmap=True)
    return [dict(record) for record in state.get("history", [])]
