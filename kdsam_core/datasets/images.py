"""Safe image decoding: pixel-count limit checked from the header before decoding, clear errors.

All decoders return ``uint8`` arrays: ``(H, W)`` for grayscale (including RGB images whose three
channels are equal) and ``(H, W, 3)`` for colour. DICOM files are decoded by :mod:`kdsam_core.dicom`
(rescale and window applied), its :class:`~kdsam_core.dicom.DicomError` reported as :class:`ImageFileError`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from kdsam_core import dicom
from kdsam_core.dicom import is_dicom_file

#: raster image files read by the importers (lower-case suffixes)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
#: suffixes whose compression is lossy: masks stored this way are thresholded at 127
LOSSY_SUFFIXES = frozenset({".jpg", ".jpeg"})

# Pillow raises many exception types on hostile files (struct.error, zlib.error, …): catch them all.
_DECODE_ERRORS = (Exception,)


class ImageFileError(Exception):
    """An image or mask could not be read. ``kind`` is ``"decompression_bomb"``, ``"unreadable"`` or
    (DICOM only) ``"unsupported"`` (multi-frame, no pixel data, not one 2-D frame)."""

    def __init__(self, kind: str, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.path = path


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _open_loaded(path: Path, max_pixels: int, draft_side: int | None = None):
    """Open ``path`` with Pillow, enforce the pixel limit, decode; returns a context-managed image.

    With ``draft_side``, JPEGs whose long side exceeds it are decoded at a reduced DCT scale (the
    whole stream is still decoded, so truncation is still detected) — for fast validation only.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as error:
        raise ImageFileError("decompression_bomb", f"declares too many pixels ({error})") from None
    except FileNotFoundError:
        raise ImageFileError("unreadable", "does not exist (it was moved or deleted)") from None
    except UnidentifiedImageError:
        raise ImageFileError("unreadable", "is not a readable PNG, JPEG, TIFF or BMP image") from None
    except _DECODE_ERRORS as error:
        raise ImageFileError("unreadable", f"cannot be opened ({error})") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageFileError(
            "decompression_bomb",
            f"declares {width}x{height} = {width * height} pixels, more than the limit of {max_pixels}; "
            "this is either a decompression bomb or an image too large to import (downscale it, or raise "
            "the pixel limit)",
        )
    try:
        if draft_side and image.format == "JPEG" and max(width, height) > draft_side:
            scale = draft_side / max(width, height)
            image._kdsam_original_size = (width, height)  # type: ignore[attr-defined]  # read by _original_size
            image.draft(image.mode, (max(1, int(width * scale)), max(1, int(height * scale))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except _DECODE_ERRORS as error:
        image.close()
        text = str(error) or error.__class__.__name__
        hint = " (the file is truncated: re-export or re-download it)" if "truncat" in text.lower() else ""
        raise ImageFileError("unreadable", f"is truncated or corrupt: {text}{hint}") from None
    return image


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale a non-8-bit single-channel array to 0..255 using its own min/max."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    data = array.astype(np.float64)
    low, high = float(np.nanmin(data)), float(np.nanmax(data))
    if high <= low:
        return np.zeros(array.shape, dtype=np.uint8)
    return np.clip((data - low) * (255.0 / (high - low)) + 0.5, 0, 255).astype(np.uint8)


def squeeze_gray(array: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` whose channels are equal -> ``(H, W)``; anything else unchanged."""
    if (
        array.ndim == 3
        and array.shape[2] == 3
        and np.array_equal(array[..., 0], array[..., 1])
        and np.array_equal(array[..., 0], array[..., 2])
    ):
        return np.ascontiguousarray(array[..., 0])
    return array


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to ``uint8`` gray ``(H, W)`` or RGB ``(H, W, 3)``."""
    mode = image.mode
    if mode == "1":
        return np.asarray(image, dtype=np.uint8) * 255
    if mode == "L":
        return np.asarray(image)
    if mode in ("LA", "La"):
        return np.asarray(image.getchannel(0))
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _to_uint8(np.asarray(image))
    if mode != "RGB":
        image = image.convert("RGB")  # P, PA, RGBA (alpha dropped), CMYK, YCbCr, LAB, HSV
    return squeeze_gray(np.asarray(image))


#: :class:`ImageFileError` kinds of the :class:`~kdsam_core.dicom.DicomError` codes (others: ``unreadable``)
_DICOM_KINDS = {
    "too_many_pixels": "decompression_bomb",
    "multi_frame": "unsupported",
    "no_pixel_data": "unsupported",
    "bad_shape": "unsupported",
}


def _read_dicom(path: Path, max_pixels: int) -> np.ndarray:
    """Decode a single-frame DICOM file like :func:`read_image_array` (equal-channel RGB as gray)."""
    try:
        return squeeze_gray(dicom.read_array(Path(path), max_pixels))
    except dicom.DicomError as error:
        raise ImageFileError(_DICOM_KINDS.get(error.code, "unreadable"), error.message) from None


def read_image_array(path: Path, max_pixels: int) -> np.ndarray:
    """Decode an image (raster or DICOM) to ``uint8`` gray or RGB; raises :class:`ImageFileError`."""
    path = Path(path)
    if is_dicom_file(path):
        return _read_dicom(path, max_pixels)
    image = _open_loaded(path, max_pixels)
    with image:
        return pil_to_array(image)


def probe_image(path: Path, max_pixels: int, draft_side: int = 2048) -> tuple[int, int, np.ndarray]:
    """Validate-decode an image: ``(width, height, pixels)`` with the original size; the pixels of
    JPEGs larger than ``draft_side`` come from a reduced-scale decode (fast, still fully checked)."""
    path = Path(path)
    if is_dicom_file(path):
        array = read_image_array(path, max_pixels)
        return array.shape[1], array.shape[0], array
    image = _open_loaded(path, max_pixels, draft_side)
    with image:
        width, height = _original_size(image)
        return width, height, pil_to_array(image)


def _original_size(image: Image.Image) -> tuple[int, int]:
    """The size before any ``draft`` reduction (Pillow keeps it in ``_size`` only when not drafted)."""
    original = getattr(image, "_kdsam_original_size", None)
    return original if original else image.size


def read_raw_mask(path: Path, max_pixels: int) -> np.ndarray:
    """Decode a mask file to a 2-D array of its stored values (no scaling).

    Palette images give their indices (label maps), colour masks the per-pixel maximum over the
    colour channels, masks whose colour is empty but whose alpha varies give the alpha channel.
    """
    image = _open_loaded(Path(path), max_pixels)
    with image:
        mode = image.mode
        if mode == "1":
            return np.asarray(image, dtype=np.uint8)
        if mode in ("L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            return np.asarray(image)
        if mode not in ("LA", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in mode else "RGB")
            mode = image.mode
        array = np.asarray(image)
    alpha: np.ndarray | None
    if mode == "LA":
        colour, alpha = array[..., 0], array[..., 1]
    else:
        colour = array[..., :3].max(axis=2)
        alpha = array[..., 3] if mode == "RGBA" else None
    if alpha is not None and not colour.any() and alpha.min() != alpha.max():
        return np.ascontiguousarray(alpha)
    return np.ascontiguousarray(colour)
