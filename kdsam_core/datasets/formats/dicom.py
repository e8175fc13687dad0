"""Single-frame DICOM images with PNG masks, and DICOM decoding for display.

Layout: the generic one with DICOM images, i.e. ``images/<id>.dcm`` + ``masks/<id>.png`` (sub-folders
allowed, matched by relative path), or a flat folder with ``<id>.dcm`` next to ``<id>_mask.png``.
Extension-less files with the ``DICM`` marker count as DICOM.

Decoding (:func:`read_dicom_array`): the modality LUT (``RescaleSlope``/``RescaleIntercept``) is
applied, then the first VOI window (``WindowCenter``/``WindowWidth``, DICOM linear formula) or,
without one, the image's own min..max; ``MONOCHROME1`` is inverted; the result is 8-bit for display
and training. Multi-frame files are reported as ``unsupported_dicom``.

Privacy: only the tags in :data:`ALLOWED_TAGS` are ever read into samples, reports or converted
output; patient-identifying tags (names, ids, dates, institutions, UIDs …) are never stored, and
:func:`convert_dataset` writes DICOM images as PNG rather than copying the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kdsam_core.datasets.formats.base import ReadContext, ReadResult, keyed, pair_by_stem
from kdsam_core.datasets.fs import files_in, find_child, walk_files
from kdsam_core.datasets.images import ImageFileError, is_dicom_file, is_image_file, squeeze_gray

KEY = "dicom"
TITLE = "DICOM images with PNG masks"

#: the only DICOM attributes kept (none identifies a patient)
ALLOWED_TAGS = (
    "Modality",
    "BodyPartExamined",
    "Rows",
    "Columns",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "SliceThickness",
    "PhotometricInterpretation",
    "BitsStored",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
)

IMAGE_FOLDERS = ("images", "image", "imgs", "img", "dicom", "dcm")
MASK_FOLDERS = ("masks", "mask", "labels", "label", "annotations", "gt", "groundtruth", "ground_truth", "segmentations")


def _json_value(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_json_value(v) for v in value]
    if isinstance(value, (int, float, str)):
        return value
    for cast in (int, float):
        try:
            number = cast(value)
            if cast is int and float(value) != number:
                continue
            return number
        except (TypeError, ValueError):
            continue
    return str(value)


def allowed_meta(dataset) -> dict:
    """The allow-listed attributes of a pydicom dataset as JSON-ready values."""
    meta = {}
    for keyword in ALLOWED_TAGS:
        if keyword in dataset:
            meta[keyword] = _json_value(dataset.get(keyword))
    return meta


def _read_header(path: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, AttributeError) as error:
        raise ImageFileError("unreadable", f"is not a readable DICOM file ({error})") from None


def read_dicom_meta(path: Path) -> dict:
    """Allow-listed tags of a DICOM file (``{}`` if unreadable)."""
    try:
        return allowed_meta(_read_header(Path(path)))
    except ImageFileError:
        return {}


def _first(value, default=None):
    if value is None:
        return default
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return float(value[0]) if len(value) else default
    return float(value)


def window_to_uint8(values: np.ndarray, center: float | None, width: float | None) -> np.ndarray:
    """DICOM linear VOI windowing (PS3.3 C.11.2.1.2) to 0..255; min..max when there is no window."""
    data = values.astype(np.float64)
    if center is None or width is None or width < 1:
        low, high = float(data.min()), float(data.max())
        if high <= low:
            return np.zeros(data.shape, dtype=np.uint8)
        return np.clip((data - low) * (255.0 / (high - low)) + 0.5, 0, 255).astype(np.uint8)
    if width == 1:
        return np.where(data <= center - 0.5, 0, 255).astype(np.uint8)
    scaled = ((data - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def read_dicom_array(path: Path, max_pixels: int) -> np.ndarray:
    """Decode a single-frame DICOM file to ``uint8`` (gray ``(H, W)`` or RGB ``(H, W, 3)``)."""
    import pydicom

    header = _read_header(Path(path))
    rows, cols = int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)
    if rows * cols > max_pixels:
        raise ImageFileError(
            "decompression_bomb",
            f"declares {cols}x{rows} = {rows * cols} pixels, more than the limit of {max_pixels}",
        )
    frames = int(header.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageFileError("unsupported", f"has {frames} frames; only single-frame DICOM images are supported")
    try:
        dataset = pydicom.dcmread(path)
    except Exception as error:  # pydicom raises many types on hostile files
        raise ImageFileError("unreadable", f"is not a readable DICOM file ({error})") from None
    if "PixelData" not in dataset:
        raise ImageFileError("unsupported", "has no pixel data (not an image)")
    try:
        pixels = dataset.pixel_array
    except Exception as error:
        raise ImageFileError(
            "unreadable",
            f"pixel data cannot be decoded ({error}); compressed transfer syntaxes need an extra decoder "
            "(pylibjpeg or GDCM): convert the file to uncompressed DICOM or PNG",
        ) from None
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        colour = pixels[..., :3]
        if colour.dtype != np.uint8:
            colour = window_to_uint8(colour, None, None)
        return squeeze_gray(np.ascontiguousarray(colour))
    if pixels.ndim != 2:
        raise ImageFileError("unsupported", f"has pixel data of shape {pixels.shape}; expected one 2-D frame")
    slope = _first(dataset.get("RescaleSlope"), 1.0)
    intercept = _first(dataset.get("RescaleIntercept"), 0.0)
    values = pixels.astype(np.float64) * slope + intercept
    image = window_to_uint8(values, _first(dataset.get("WindowCenter")), _first(dataset.get("WindowWidth")))
    if photometric == "MONOCHROME1":
        image = 255 - image
    return image


def _dicom_files(folder: Path, depth: int) -> list[Path]:
    return [p for p in walk_files(folder, max_depth=depth) if not is_image_file(p) and is_dicom_file(p)]


def _layout(root: Path) -> tuple[Path, Path | None, bool] | None:
    images = find_child(root, *IMAGE_FOLDERS)
    if images is not None and _dicom_files(images, 4):
        return images, find_child(root, *MASK_FOLDERS), False
    if any(is_dicom_file(p) for p in files_in(root) if not is_image_file(p)):
        return root, None, True
    return None


def detect(root: Path) -> bool:
    return _layout(root) is not None


def read(root: Path, ctx: ReadContext) -> ReadResult:
    images_dir, masks_dir, flat = _layout(root)
    if flat:
        files = files_in(root)
        images = [p for p in files if not is_image_file(p) and is_dicom_file(p)]
        masks = [p for p in files if is_image_file(p)]
        image_keys, mask_keys = keyed(images, root), keyed(masks, root)
    else:
        images = _dicom_files(images_dir, 4)
        masks = [p for p in walk_files(masks_dir, max_depth=4) if is_image_file(p)] if masks_dir else []
        image_keys = keyed(images, images_dir)
        mask_keys = keyed(masks, masks_dir) if masks_dir else []
    return pair_by_stem(
        ctx,
        image_keys,
        mask_keys,
        format=KEY,
        sample_fields=lambda key, path: {"meta": read_dicom_meta(path)},
    )
