"""Mask decoding rules: binarisation, OR-ing of several masks, and HC18 ellipse-outline filling.

A loaded mask is always a ``uint8`` array of 0 (background) and 1 (foreground), shape ``(H, W)``.

Binarisation (:func:`binarise`):

- masks stored lossily (JPEG, e.g. Kvasir-SEG) are thresholded: foreground = value > 127;
- with an explicit ``label`` (label maps), foreground = value == label;
- otherwise a mask holding 0 and one other value (0/1, 0/255, …) is foreground = value != 0;
- anything else is *non-binary* (reported as ``non_binary_mask``): values that are all < 128 are
  taken as a label map with every non-zero label merged, larger values are thresholded at 127.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdsam_core.datasets.images import LOSSY_SUFFIXES, ImageFileError, read_raw_mask

THRESHOLD = 127

#: ``Sample.mask_rule`` values
RULE_AUTO = "auto"  # decide from the file type and values (see module docstring)
RULE_THRESHOLD = "threshold"  # foreground = value > 127, whatever the file type
RULE_OUTLINE = "ellipse_outline"  # HC18: 1-px ellipse outline, filled


class MaskError(Exception):
    """A mask exists but cannot be turned into a binary mask (``code`` is a problem code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class MaskResult:
    mask: np.ndarray  # uint8 0/1
    note: str | None = None  # set when the mask was non-binary (explains the rule applied)


def _distinct_values(raw: np.ndarray) -> np.ndarray:
    if raw.dtype == np.uint8:
        return np.flatnonzero(np.bincount(raw.ravel(), minlength=256))
    return np.unique(raw)


def binarise(raw: np.ndarray, *, lossy: bool = False, label: int | None = None) -> MaskResult:
    """Turn the stored values of one mask into 0/1 following the module rules."""
    if raw.ndim != 2:
        raise ValueError("binarise expects a 2-D array")
    if raw.dtype == bool:
        return MaskResult(raw.astype(np.uint8))
    if label is not None:
        return MaskResult((raw == label).astype(np.uint8))
    if lossy:
        return MaskResult((raw > THRESHOLD).astype(np.uint8))
    values = _distinct_values(raw)
    if len(values) <= 2 and (len(values) < 2 or values[0] == 0):
        return MaskResult((raw != 0).astype(np.uint8))
    shown = ", ".join(str(v) for v in values[:8]) + (", …" if len(values) > 8 else "")
    if values.max() < 128:
        note = (
            f"has {len(values)} values ({shown}): read as a label map with all non-zero labels merged; "
            "choose one label with --mask-label N"
        )
        return MaskResult((raw != 0).astype(np.uint8), note)
    note = f"has {len(values)} values ({shown}) instead of 0/255: thresholded at {THRESHOLD}"
    return MaskResult((raw > THRESHOLD).astype(np.uint8), note)


def ellipse_mask(
    shape: tuple[int, int], center: tuple[float, float], axes: tuple[float, float], angle: float
) -> np.ndarray:
    """Filled ellipse (bool) clipped to ``shape`` = (H, W).

    ``center`` (x, y), full ``axes`` (width, height) and ``angle`` (degrees) as in OpenCV's
    ``RotatedRect`` / ``cv2.fitEllipse``. Evaluated analytically at pixel centres (sub-pixel exact).
    """
    height, width = shape
    cx, cy = center
    a, b = max(axes[0] / 2.0, 1e-6), max(axes[1] / 2.0, 1e-6)
    theta = math.radians(angle)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    ys, xs = np.mgrid[0:height, 0:width]
    dx = xs - cx
    dy = ys - cy
    u = dx * cos_t + dy * sin_t
    v = -dx * sin_t + dy * cos_t
    inside: np.ndarray = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return inside


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not 4-connected to the border (as ``scipy.ndimage.binary_fill_holes``,
    via OpenCV flood fill, which is about 20x faster)."""
    import cv2

    padded = np.pad(mask.astype(np.uint8), 1)
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(padded, flood, (0, 0), 2, flags=4)
    filled: np.ndarray = padded[1:-1, 1:-1] != 2
    return filled


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def fill_outline(outline: np.ndarray) -> np.ndarray:
    """Fill a 1-px ellipse outline (HC18 annotation) into a 0/1 mask.

    A closed outline away from the image border is filled by hole filling (exact). An outline that
    reaches the border (the ellipse is clipped by the image) or has gaps cannot be hole-filled, so
    an ellipse is fitted to the outline pixels (``cv2.fitEllipse``) and drawn filled, clipped to
    the image; the outline pixels themselves are always foreground.
    """
    on = outline > 0
    if not on.any():
        return np.zeros(on.shape, dtype=np.uint8)
    if not _touches_border(on):
        filled = fill_holes(on)
        if (filled & ~on).sum() > on.sum():  # a real interior, not just wiggles of the outline
            return filled.astype(np.uint8)
    ys, xs = np.nonzero(on)
    if len(xs) < 5:
        raise MaskError("outline_not_ellipse", f"has only {len(xs)} outline pixels; an ellipse needs at least 5")
    import cv2

    points = np.column_stack([xs, ys]).astype(np.float32)
    (cx, cy), (w, h), angle = cv2.fitEllipse(points)
    if not all(math.isfinite(v) for v in (cx, cy, w, h, angle)) or min(w, h) < 2:
        raise MaskError("outline_not_ellipse", "outline pixels do not describe an ellipse")
    filled = ellipse_mask(on.shape, (cx, cy), (w, h), angle) | on
    return filled.astype(np.uint8)


def load_mask_files(
    paths: tuple[Path, ...] | list[Path],
    *,
    rule: str = RULE_AUTO,
    label: int | None = None,
    max_pixels: int,
) -> MaskResult:
    """Read one or more mask files (OR-ed together) with ``rule``; raises ``ImageFileError``,
    :class:`MaskError` (``size_mismatch`` between the files, ``outline_not_ellipse``)."""
    combined: np.ndarray | None = None
    notes: list[str] = []
    for path in paths:
        path = Path(path)
        try:
            raw = read_raw_mask(path, max_pixels)
        except ImageFileError as error:
            error.path = path
            raise
        if rule == RULE_OUTLINE:
            try:
                result = MaskResult(fill_outline(raw > THRESHOLD))
            except MaskError as error:
                raise MaskError(error.code, f"{path.name} {error.message}") from None
        elif rule == RULE_THRESHOLD:
            result = binarise(raw, lossy=True, label=label)
        else:
            result = binarise(raw, lossy=path.suffix.lower() in LOSSY_SUFFIXES, label=label)
        if result.note:
            notes.append(result.note if len(paths) == 1 else f"{path.name} {result.note}")
        if combined is None:
            combined = result.mask
        elif combined.shape != result.mask.shape:
            raise MaskError(
                "size_mismatch",
                f"{path.name} is {result.mask.shape[1]}x{result.mask.shape[0]} but the other mask of this image is "
                f"{combined.shape[1]}x{combined.shape[0]}",
            )
        else:
            combined = combined | result.mask
    if combined is None:
        raise ValueError("load_mask_files needs at least one path")
    return MaskResult(combined, "; ".join(notes) or None)
