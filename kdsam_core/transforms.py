"""SAM's image preprocessing, reproduced exactly.

``segment_anything.utils.transforms.ResizeLongestSide.apply_image`` resizes a uint8 HWC image with
PIL's bilinear filter so its longest side is 1024; ``Sam.preprocess`` then normalises with SAM's
pixel mean/std and zero-pads bottom/right to 1024×1024. The functions here do the same without
torchvision's PIL round trip, and are tested for exact equality against the originals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from kdsam_core.config import SAM_PIXEL_MEAN, SAM_PIXEL_STD


def preprocess_shape(height: int, width: int, long_side: int = 1024) -> tuple[int, int]:
    """``(new_height, new_width)`` with the longest side ``long_side``; SAM's rounding (``int(x+0.5)``)."""
    scale = long_side * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_longest_side(image: np.ndarray, long_side: int = 1024) -> np.ndarray:
    """``(H, W, 3)`` uint8 → ``(h', w', 3)`` uint8, identical to ``ResizeLongestSide.apply_image``."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    new_h, new_w = preprocess_shape(image.shape[0], image.shape[1], long_side)
    return np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))


def normalize_and_pad(resized: np.ndarray, long_side: int = 1024) -> torch.Tensor:
    """``(h', w', 3)`` uint8 → ``(1, 3, long_side, long_side)`` float32, as ``Sam.preprocess``."""
    tensor = torch.from_numpy(np.array(resized, dtype=np.float32)).permute(2, 0, 1).contiguous()[None]
    mean = torch.tensor(SAM_PIXEL_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(SAM_PIXEL_STD).view(1, 3, 1, 1)
    tensor = (tensor - mean) / std
    h, w = tensor.shape[-2:]
    return F.pad(tensor, (0, long_side - w, 0, long_side - h))


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for the encoder, with the sizes the decoder needs."""

    tensor: torch.Tensor  #: (1, 3, S, S) normalised and padded
    original_size: tuple[int, int]  #: (H, W) of the image as uploaded
    input_size: tuple[int, int]  #: (h', w') after the longest-side resize, before padding


def prepare_image(image: np.ndarray, long_side: int = 1024) -> PreparedImage:
    """Full SAM preprocessing of an ``(H, W, 3)`` uint8 RGB image."""
    resized = resize_longest_side(image, long_side)
    return PreparedImage(
        tensor=normalize_and_pad(resized, long_side),
        original_size=(int(image.shape[0]), int(image.shape[1])),
        input_size=(int(resized.shape[0]), int(resized.shape[1])),
    )


def apply_coords(coords: np.ndarray, original_size: tuple[int, int], long_side: int = 1024) -> np.ndarray:
    """Point coordinates ``(..., 2)`` as ``(x, y)`` in original pixels → the ``long_side`` input space."""
    old_h, old_w = original_size
    new_h, new_w = preprocess_shape(old_h, old_w, long_side)
    coords = np.array(coords, dtype=np.float64, copy=True)
    coords[..., 0] *= new_w / old_w
    coords[..., 1] *= new_h / old_h
    return coords


def postprocess_masks(
    low_res_masks: torch.Tensor | np.ndarray, original_size: tuple[int, int], long_side: int = 1024
) -> torch.Tensor:
    """SAM's ``Sam.postprocess_masks`` without a model: low-res logits ``(B, M, 4G, 4G)`` (tensor or
    array) → logits ``(B, M, H, W)`` at ``original_size``. Bilinear to ``long_side``², crop to the
    ResizeLongestSide size, bilinear to the original size (what the browser's mask-upsample.ts does)."""
    import torch.nn.functional as F

    masks = torch.as_tensor(low_res_masks, dtype=torch.float32)
    masks = F.interpolate(masks, (long_side, long_side), mode="bilinear", align_corners=False)
    h, w = preprocess_shape(*original_size, long_side=long_side)
    return F.interpolate(masks[..., :h, :w], tuple(original_size), mode="bilinear", align_corners=False)


def load_rgb(path_or_file: str | os.PathLike[str] | IO[bytes]) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB (greyscale replicated, alpha dropped)."""
    with Image.open(path_or_file) as img:
        img.load()
        return rgb_array(img)


def rgb_array(img: Image.Image) -> np.ndarray:
    """A PIL image as ``(H, W, 3)`` uint8 RGB; 16-bit greyscale is scaled to 8 bits."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(img, dtype=np.float64)
        lo, hi = float(array.min()), float(array.max())
        array = np.zeros_like(array) if hi <= lo else (array - lo) * (255.0 / (hi - lo))
        img = Image.fromarray(array.round().astype(np.uint8))
    return np.asarray(img.convert("RGB"))
