"""Cached thumbnails of dataset items: the image (JPEG) and its mask as a coloured, transparent overlay (PNG)."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from kdsam_core.datasets.images import read_image_array
from webapp.datasets import conf, storage
from webapp.datasets.models import DatasetItem

OVERLAY_RGBA = (255, 48, 48, 150)


def thumbnail(item: DatasetItem, kind: str) -> Path:
    """A cached thumbnail: ``image`` (JPEG) or ``mask`` (transparent PNG, foreground coloured)."""
    sha = item.sha256 if kind == "image" else item.mask_sha256
    rel = storage.thumbnail_rel(sha, kind)
    path = storage.path_of(rel)
    if path.exists():
        return path
    size = (conf.THUMBNAIL_SIZE, conf.THUMBNAIL_SIZE)
    if kind == "image":
        array = read_image_array(storage.path_of(item.image_file), settings.STUDIO.max_image_pixels)
        picture = PILImage.fromarray(array).convert("RGB")
        picture.thumbnail(size, PILImage.Resampling.BILINEAR)
        data = io.BytesIO()
        picture.save(data, format="JPEG", quality=85)
    else:
        with PILImage.open(storage.path_of(item.mask_file)) as mask:
            small = mask.convert("L")
            # same size as the image's; partial coverage -> partial alpha
            small.thumbnail(size, PILImage.Resampling.BOX)
        alpha = np.asarray(small, dtype=np.float32) / 255.0 * OVERLAY_RGBA[3]
        rgba = np.zeros((small.height, small.width, 4), dtype=np.uint8)
        rgba[..., :3] = OVERLAY_RGBA[:3]
        rgba[..., 3] = alpha.round().astype(np.uint8)
        data = io.BytesIO()
        PILImage.fromarray(rgba, mode="RGBA").save(data, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    tmp.write_bytes(data.getvalue())
    os.replace(tmp, path)
    storage.record_sizes([rel])  # counts toward the storage of every team holding the item (services/quota.py)
    return path
