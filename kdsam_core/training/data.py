"""The minimal data protocol of the training and evaluation code.

A *sample* is anything with ``image`` (``(H, W, 3)`` uint8 RGB array or an image file path), ``mask``
(``(H, W)`` array, path or ``None``) and ``id``. :func:`as_samples` turns plain ``(image, mask)``
pairs, paths or objects of the colleague-owned ``kdsam_core.datasets`` readers (any object with
``image``/``image_path`` and ``mask``/``mask_path`` attributes) into :class:`Sample` objects, so the
trainers don't depend on a particular dataset format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from PIL import Image

from kdsam_core.hashing import array_sha256
from kdsam_core.transforms import load_rgb

ImageLike: TypeAlias = np.ndarray | str | Path
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: Grey level above which a mask pixel is foreground (JPEG masks such as Kvasir-SEG need a threshold).
MASK_THRESHOLD = 127


@dataclass(frozen=True)
class Sample:
    image: ImageLike
    mask: ImageLike | None = None
    id: str = ""

    def load_image(self) -> np.ndarray:
        return load_image(self.image)

    def load_mask(self) -> np.ndarray | None:
        return None if self.mask is None else load_mask(self.mask)


def load_image(image: ImageLike) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
        return image
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    return load_rgb(path)


def load_mask(mask: ImageLike) -> np.ndarray:
    """A binary ``(H, W)`` uint8 mask (0/1); file masks are binarised at :data:`MASK_THRESHOLD`."""
    if isinstance(mask, np.ndarray):
        array = mask
        if array.ndim == 3:
            array = array.max(axis=2)
        if array.dtype == bool:
            return array.astype(np.uint8)
        if array.max(initial=0) <= 1:
            return (array > 0).astype(np.uint8)
        return (array > MASK_THRESHOLD).astype(np.uint8)
    path = Path(mask)
    if not path.is_file():
        raise FileNotFoundError(f"mask not found: {path}")
    with Image.open(path) as img:
        array = np.asarray(img.convert("L"))
    return (array > MASK_THRESHOLD).astype(np.uint8)


def image_hash(image: np.ndarray) -> str:
    """Content hash of a decoded ``(H, W, 3)`` uint8 image (:func:`~kdsam_core.hashing.array_sha256`:
    pixels + shape + dtype): identical pixels share cache entries."""
    return array_sha256(image)


def _attr(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def as_sample(item: Any, index: int = 0) -> Sample:
    if isinstance(item, Sample):
        return item
    if isinstance(item, (str, Path)):
        return Sample(image=Path(item), mask=None, id=Path(item).stem)
    if isinstance(item, np.ndarray):
        return Sample(image=item, mask=None, id=f"sample{index:05d}")
    if isinstance(item, tuple) and len(item) in (2, 3):
        image, mask = item[0], item[1]
        sid = (
            item[2]
            if len(item) == 3
            else (Path(image).stem if isinstance(image, (str, Path)) else f"sample{index:05d}")
        )
        return Sample(image=image, mask=mask, id=str(sid))
    image = _attr(item, "image", "image_path")
    if image is None:
        raise TypeError(f"cannot use {type(item).__name__} as a sample: it has no image / image_path")
    mask = _attr(item, "mask", "mask_path")
    sid = _attr(item, "id", "sample_id", "name")
    if sid is None:
        sid = Path(image).stem if isinstance(image, (str, Path)) else f"sample{index:05d}"
    return Sample(image=image, mask=mask, id=str(sid))


def as_samples(items: Iterable[Any]) -> list[Sample]:
    return [as_sample(item, i) for i, item in enumerate(items)]


def images_in_folder(folder: Path | str) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def pairs_from_folders(images: Path | str, masks: Path | str, mask_suffix: str = "") -> list[Sample]:
    """Pair ``images/<stem>.*`` with ``masks/<stem><mask_suffix>.*``; unmatched images are an error."""
    masks = Path(masks)
    if not masks.is_dir():
        raise FileNotFoundError(f"mask folder not found: {masks}")
    by_stem = {p.stem: p for p in masks.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    samples, missing = [], []
    for image in images_in_folder(images):
        mask = by_stem.get(image.stem + mask_suffix)
        if mask is None:
            missing.append(image.name)
        else:
            samples.append(Sample(image=image, mask=mask, id=image.stem))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} images in {images} have no mask '<stem>{mask_suffix}.*' in {masks} "
            f"(e.g. {', '.join(missing[:3])})"
        )
    return samples


def split_samples(samples: Sequence[Sample], val_fraction: float, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Deterministic split by a hash of the sample id (stable when samples are added)."""
    if val_fraction <= 0:
        return list(samples), []
    keyed = sorted(samples, key=lambda s: hashlib.sha256(f"{seed}:{s.id}".encode()).hexdigest())
    n_val = max(1, round(len(samples) * val_fraction)) if len(samples) > 1 else 0
    val_ids = {s.id for s in keyed[:n_val]}
    return [s for s in samples if s.id not in val_ids], [s for s in samples if s.id in val_ids]
