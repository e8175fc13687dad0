"""Single-frame DICOM uploads: the web app's adapter to :mod:`kdsam_core.dicom`.

Reading, display conversion, window presets, the tag allow-list, de-identification and DICOM-SEG
writing are :mod:`kdsam_core.dicom`'s; here its :class:`~kdsam_core.dicom.DicomError` becomes a
:class:`DicomRejected` (an :class:`~webapp.kdsam_studio.api_errors.ApiError` on the ``file`` field) whose
message names the upload and says how to fix it.

Privacy: an uploaded DICOM file is never stored. What is stored is a *new* dataset that holds only
the image pixel module and the allow-listed technical attributes; patient, study and institution
attributes are replaced by fixed pseudonyms and the UIDs by new ones derived (one-way) from the
original, so the exported DICOM-SEG references a consistent, de-identified source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kdsam_core import dicom
from webapp.kdsam_studio.api_errors import ApiError


class DicomRejected(ApiError):
    """A DICOM upload we cannot read or de-identify; ``message`` says what and how to fix it."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message, field="file")


@dataclass
class DicomImage:
    display: np.ndarray  # uint8 (H, W) or (H, W, 3), what the encoder and the viewer see
    deidentified: bytes  # the de-identified DICOM file
    meta: dict = field(default_factory=dict)


#: DicomError code -> (API error code, message); ``name``, ``max_pixels``, ``message`` and the error's
#: ``details`` fill the message
_REJECTIONS = {
    "unreadable": ("corrupt_image", "{name} is not a readable DICOM file ({reason}). Export it again and retry."),
    "too_many_pixels": (
        "image_too_large",
        "{name} has more than {max_pixels:,} pixels; downscale it or raise KDSAM_MAX_IMAGE_PIXELS.",
    ),
    "multi_frame": ("unsupported_format", "{name} has {frames} frames; upload a single-frame DICOM image (one slice)."),
    "no_pixel_data": (
        "unsupported_format",
        "{name} has no pixel data: it is not an image, or the file is truncated. Upload a complete DICOM image.",
    ),
    "undecodable": (
        "unsupported_format",
        "{name}: the pixel data cannot be decoded ({reason}). The file may be truncated, or compressed in a way "
        "that needs an extra decoder: export it as uncompressed DICOM (or PNG) and retry.",
    ),
    "bad_shape": ("unsupported_format", "{name} has pixel data of shape {shape}; upload one 2-D frame."),
}


def _rejected(name: str, error: dicom.DicomError, max_pixels: int) -> DicomRejected:
    code, template = _REJECTIONS.get(error.code, ("unsupported_format", "{name} {message}."))
    values = {**error.details, "name": name, "max_pixels": max_pixels, "message": error.message}
    return DicomRejected(code, template.format_map(values))


def read_upload(name: str, content: bytes, max_pixels: int) -> DicomImage:
    """Validate and convert an uploaded DICOM file; raises :class:`DicomRejected` with a clear message."""
    try:
        viewer = dicom.read_viewer(content, max_pixels)
    except dicom.DicomError as error:
        raise _rejected(name, error, max_pixels) from None
    return DicomImage(viewer.display, dicom.deidentify(viewer.dataset), viewer.meta)
