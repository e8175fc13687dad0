"""Storing one sample's files by content hash: the image (a byte copy; PNG/JPEG without their metadata; DICOM
as PNG) and its mask (PNG 0/255)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from kdsam_core import image_metadata
from kdsam_core.dicom import is_dicom_file
from webapp.datasets import storage
from webapp.datasets.models import DatasetItem


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def image_bytes_without_metadata(path: Path) -> bytes | None:
    """The PNG/JPEG file at ``path`` without its text chunks, EXIF, XMP and comments (pixels bit-identical,
    :mod:`kdsam_core.image_metadata`); None for other formats (TIFF, BMP), which are copied as they are."""
    with open(path, "rb") as handle:
        if not image_metadata.supported(handle.read(8)):
            return None
        handle.seek(0)
        content = handle.read()
    try:
        return image_metadata.strip_metadata(content)
    except image_metadata.ImageMetadataError as error:
        raise ValueError(f"{path.name}: {error}") from None


def store_sample(sample, split: str, created: list[str]) -> DatasetItem:
    """Store one sample's image (byte copy, PNG/JPEG without metadata; DICOM as PNG) and mask (PNG 0/255);
    an unsaved item without its dataset (the dataset row is created with the items, once every file is stored)."""
    suffix = sample.image_path.suffix or ".img"
    if is_dicom_file(sample.image_path):
        image_rel, image_sha, new = storage.put_bytes(png_bytes(sample.load_image()), ".png")
    elif (stripped := image_bytes_without_metadata(sample.image_path)) is not None:
        image_rel, image_sha, new = storage.put_bytes(stripped, suffix)
    else:
        image_rel, image_sha, new = storage.put_file(sample.image_path, suffix)
    if new:
        created.append(image_rel)
    mask_rel = mask_sha = ""
    mask = sample.load_mask()
    if mask is not None:
        mask_rel, mask_sha, new = storage.put_bytes(png_bytes((mask > 0).astype(np.uint8) * 255), ".png")
        if new:
            created.append(mask_rel)
    return DatasetItem(
        item_id=sample.id[:255],
        image_file=image_rel,
        mask_file=mask_rel,
        sha256=image_sha,
        mask_sha256=mask_sha,
        split=split,
        split_group=sample.split_group[:255],
        class_label=(sample.label or "")[:100],
        subset=(sample.subset or "")[:32],
        negative=bool(sample.negative),
        unlabelled=bool(sample.unlabelled),
        width=sample.width or 0,
        height=sample.height or 0,
        source_image=sample.image[:1000],
    )
