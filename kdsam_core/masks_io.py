"""Binary masks in and out: COCO run-length encoding and the export formats (PNG, NIfTI, COCO JSON).

Masks are ``(height, width)`` boolean arrays in image pixel order. The uncompressed COCO RLE used
on the wire is ``{"size": [height, width], "counts": [n0, n1, ...]}``: run lengths over the mask
flattened in **column-major** (Fortran) order, starting with a run of zeros (possibly 0), exactly
as ``pycocotools.mask`` reads it.
"""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import numpy as np


class MaskFormatError(ValueError):
    """A mask encoding that cannot be decoded; the message says what is wrong."""


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed COCO RLE of a 2-D mask."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise MaskFormatError(f"a mask must be 2-D, got shape {mask.shape}")
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def rle_decode(rle: Any, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Inverse of :func:`rle_encode`, validating sizes and counts."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise MaskFormatError('the mask must be {"size": [height, width], "counts": [...]} (uncompressed COCO RLE)')
    size, counts = rle["size"], rle["counts"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise MaskFormatError(f"mask size must be [height, width] of positive integers, got {size!r}")
    height, width = size
    if expected_size is not None and (height, width) != tuple(expected_size):
        raise MaskFormatError(
            f"the mask is {height}×{width} (h×w) but the image is {expected_size[0]}×{expected_size[1]}"
        )
    if not isinstance(counts, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts
    ):
        raise MaskFormatError("mask counts must be a list of non-negative integers (run lengths)")
    total = sum(counts)
    if total != height * width:
        raise MaskFormatError(
            f"mask run lengths add up to {total} pixels, expected {height}×{width} = {height * width}"
        )
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((height, width), order="F")


def mask_to_png(mask: np.ndarray) -> bytes:
    """8-bit greyscale PNG: 255 inside the mask, 0 outside."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def mask_to_nifti(mask: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> bytes:
    """Gzipped NIfTI-1 (``.nii.gz``) of shape ``(width, height, 1)``, uint8 0/1.

    NIfTI's first axis is x (columns), so voxel ``[x, y, 0]`` is image pixel ``[y, x]``.
    """
    import nibabel as nib

    volume = np.asarray(mask, dtype=np.uint8).T[:, :, None]
    affine = np.diag([float(spacing[1]), float(spacing[0]), 1.0, 1.0])
    image = nib.Nifti1Image(np.ascontiguousarray(volume), affine)
    image.header.set_data_dtype(np.uint8)
    image.header.set_xyzt_units("mm")
    return gzip.compress(image.to_bytes(), mtime=0)


def coco_annotation(mask: np.ndarray, *, annotation_id: int, image_id: int, category_id: int) -> dict[str, Any]:
    """One COCO annotation with a compressed RLE segmentation (pycocotools' string counts)."""
    from pycocotools import mask as mask_utils

    encoded = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    bbox = [float(v) for v in mask_utils.toBbox(encoded)]
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "iscrowd": 0,
        "area": float(mask_utils.area(encoded)),
        "bbox": bbox,
        "segmentation": {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")},
    }


def coco_document(image: dict[str, Any], objects: list[dict[str, Any]]) -> bytes:
    """A COCO instance-segmentation JSON for one image.

    ``image``: ``{"id", "file_name", "width", "height"}``; ``objects``: ``{"id", "label", "mask"}``.
    Categories are the distinct labels, numbered from 1 in order of appearance.
    """
    categories: dict[str, int] = {}
    annotations = []
    for obj in objects:
        category = categories.setdefault(obj["label"], len(categories) + 1)
        annotations.append(
            coco_annotation(obj["mask"], annotation_id=obj["id"], image_id=image["id"], category_id=category)
        )
    document = {
        "images": [
            {"id": image["id"], "file_name": image["file_name"], "width": image["width"], "height": image["height"]}
        ],
        "categories": [{"id": cid, "name": name} for name, cid in categories.items()],
        "annotations": annotations,
    }
    return json.dumps(document, indent=1).encode("utf-8")
