"""Storing one sample's files by content hash: the image (a byte copy; DICOM as PNG) and its mask (PNG 0/255)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

from kdsam_core.dicom import is_dicom_file
from webapp.datasets import storage
from webapp.datasets.models import DatasetItem


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def store_sample(sample, split: str, created: list[str]) -> DatasetItem:
    """Store one sample's image (byte copy; DICOM as PNG) and mask (PNG 0/255); an unsaved item without
    its dataset (the dataset row is created with the items, once every file is stored)."""
    if is_dicom_file(sample.image_path):
        image_rel, image_sha, new = storage.put_bytes(png_bytes(sample.load_image()), ".png")
    else:
        image_rel, image_sha, new = storage.put_file(sample.image_path, sample.image_path.suffix or ".img")
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
