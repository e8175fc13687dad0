"""webapp.segmentation.dicom_io: kdsam_core.dicom's errors become DicomRejected (ApiError) naming the upload."""

from __future__ import annotations

import pytest

from kdsam_core import dicom
from tests.dicom_support import dicom_bytes as make_dicom
from webapp.kdsam_studio.api_errors import ApiError
from webapp.segmentation import dicom_io


@pytest.mark.parametrize(
    ("content", "max_pixels", "code", "words"),
    [
        (b"not a DICOM file" * 20, 10**6, "corrupt_image", "not a readable DICOM file"),
        (make_dicom(), 100, "image_too_large", "more than 100 pixels"),
        (make_dicom(frames=3), 10**6, "unsupported_format", "3 frames"),
        (make_dicom(pixel_data=False), 10**6, "unsupported_format", "no pixel data"),
    ],
)
def test_rejections_carry_the_api_code_and_name_the_file(content, max_pixels, code, words):
    with pytest.raises(dicom_io.DicomRejected) as caught:
        dicom_io.read_upload("scan.dcm", content, max_pixels)
    error = caught.value
    assert isinstance(error, ApiError) and error.code == code and error.field == "file"
    assert error.message.startswith("scan.dcm") and words in error.message


@pytest.mark.parametrize("code", dicom.ERROR_CODES)
def test_every_core_error_code_is_mapped(code):
    details = {"reason": "x", "frames": 2, "shape": (1, 2, 3, 4)}
    rejected = dicom_io._rejected("scan.dcm", dicom.DicomError(code, "fails", **details), 100)
    assert rejected.code in {"corrupt_image", "image_too_large", "unsupported_format"}
    assert rejected.message.startswith("scan.dcm") and "fails" not in rejected.message


def test_an_accepted_upload_is_displayed_and_de_identified():
    converted = dicom_io.read_upload("scan.dcm", make_dicom(RescaleIntercept=-1024), 10**6)
    assert converted.display.shape == (12, 16) and converted.meta["modality"] == "CT"
    assert b"Doe^Jane" not in converted.deidentified and dicom.is_dicom_bytes(converted.deidentified)
