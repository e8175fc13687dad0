"""kdsam_core.dicom: one behaviour each (files built here with pydicom)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from kdsam_core import dicom
from tests.dicom_support import PHI, PRIVATE_VALUE
from tests.dicom_support import dicom_bytes as make_dicom

#: the tags the dataset importer kept before the two allow-lists were merged
FORMER_DATASET_TAGS = (
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
#: what de-identification writes besides the allow-listed tags (pseudonyms, new UIDs, markers)
WRITTEN_TAGS = {
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "AccessionNumber",
    "StudyID",
    "SeriesNumber",
    "InstanceNumber",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "PixelData",
}


def _error_code(source, max_pixels=10**6) -> str:
    with pytest.raises(dicom.DicomError) as caught:
        dicom.read_array(source, max_pixels)
    assert caught.value.code in dicom.ERROR_CODES
    return caught.value.code


def test_the_allow_list_is_the_union_of_the_former_two():
    assert len(dicom.ALLOWED_TAGS) == len(set(dicom.ALLOWED_TAGS)) == 22
    assert set(FORMER_DATASET_TAGS) <= set(dicom.ALLOWED_TAGS)
    assert not set(dicom.ALLOWED_TAGS) & (set(PHI) | WRITTEN_TAGS - {"PixelData"})


def test_allowed_meta_keeps_exactly_the_listed_tags():
    every_allowed = {
        "BodyPartExamined": "CHEST",
        "PixelSpacing": [0.5, 0.5],
        "ImagerPixelSpacing": [0.5, 0.5],
        "SliceThickness": 1.0,
        "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
        "ImagePositionPatient": [0, 0, 0],
        "RescaleSlope": 1,
        "RescaleIntercept": -1024,
        "RescaleType": "HU",
        "WindowCenter": 40,
        "WindowWidth": 400,
        "PlanarConfiguration": 0,
    }
    source = dicom.load(make_dicom(**every_allowed))
    meta = dicom.allowed_meta(source)
    assert set(meta) == set(dicom.ALLOWED_TAGS)
    assert meta["PixelSpacing"] == [0.5, 0.5] and meta["RescaleIntercept"] == -1024
    stored = dicom.load(dicom.deidentify(source))
    assert {element.keyword for element in stored} == set(dicom.ALLOWED_TAGS) | WRITTEN_TAGS


def test_deidentify_replaces_identity_and_uids_one_way_and_repeatably():
    content = make_dicom()
    source = dicom.load(content)
    first, again = dicom.deidentify(source), dicom.deidentify(dicom.load(content))
    stored = dicom.load(first)
    assert first == again
    assert str(stored.PatientName) == "Anonymous" and stored.PatientID == "ANON"
    assert stored.PatientIdentityRemoved == "YES"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert stored[keyword].value != source[keyword].value
    for value in [*PHI.values(), PRIVATE_VALUE]:
        assert value.encode() not in first
    assert np.array_equal(stored.pixel_array, source.pixel_array)


def test_monochrome1_is_inverted():
    normal = dicom.read_array(make_dicom(), 10**6)
    inverted = dicom.read_array(make_dicom(photometric="MONOCHROME1"), 10**6)
    assert np.array_equal(inverted, 255 - normal)


def test_rescale_is_applied_before_windowing():
    stored = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16)
    content = make_dicom(stored, RescaleSlope=2, RescaleIntercept=-100)
    values = dicom.modality_values(dicom.load(content))
    assert values.dtype == np.float32 and np.array_equal(values, stored * 2.0 - 100)
    # window 0 +- 50 on the rescaled values: stored <= 25 is black, stored >= 75 white
    image = dicom.read_array(
        make_dicom(stored, RescaleSlope=2, RescaleIntercept=-100, WindowCenter=0, WindowWidth=100), 10**6
    )
    assert (image[stored <= 25] == 0).all() and (image[stored >= 75] == 255).all()


def test_pixel_limit_is_rejected_from_the_header_with_its_code(tmp_path):
    content = make_dicom()
    path = tmp_path / "big.dcm"
    path.write_bytes(content)
    assert _error_code(content, max_pixels=100) == "too_many_pixels"
    assert _error_code(path, max_pixels=100) == "too_many_pixels"


def test_multi_frame_is_rejected():
    assert _error_code(make_dicom(frames=3)) == "multi_frame"


def test_over_the_limit_wins_over_multi_frame():
    # unified order: the pixel limit is checked first (uploads used to report the frames first)
    assert _error_code(make_dicom(frames=3), max_pixels=100) == "too_many_pixels"


def test_no_pixel_data_and_garbage_have_their_codes():
    assert _error_code(make_dicom(pixel_data=False)) == "no_pixel_data"
    assert _error_code(b"not a DICOM file" * 20) == "unreadable"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 7.0), ("", 7.0), ([], 7.0), ("abc", 7.0), ("40", 40.0), ([40, 50], 40.0), (3, 3.0)]
)
def test_first_number_falls_back_on_absent_empty_or_malformed_values(value, expected):
    assert dicom.first_number(value, 7.0) == expected


def test_a_malformed_window_falls_back_to_the_value_range():
    # the dataset reader used to raise ValueError here; now the window is ignored as if absent
    import pydicom

    source = pydicom.dcmread(io.BytesIO(make_dicom()))
    source.add_new(0x00281050, "LO", "abc")
    source.add_new(0x00281051, "LO", "400")
    buffer = io.BytesIO()
    source.save_as(buffer)
    assert np.array_equal(dicom.read_array(buffer.getvalue(), 10**6), dicom.read_array(make_dicom(), 10**6))


def test_sniffing_bytes_and_files_agree(tmp_path):
    content = make_dicom()
    assert dicom.is_dicom_bytes(content) and not dicom.is_dicom_bytes(content[:131])
    (tmp_path / "IM0001").write_bytes(content)
    (tmp_path / "notes").write_bytes(b"x" * 200)
    assert dicom.is_dicom_file(tmp_path / "IM0001") and not dicom.is_dicom_file(tmp_path / "notes")
    assert dicom.is_dicom_file(tmp_path / "missing.DCM") and not dicom.is_dicom_file(tmp_path / "IM0001.png")


def test_viewer_uses_the_first_modality_preset_without_a_file_window():
    viewer = dicom.read_viewer(make_dicom(RescaleIntercept=-1024), 10**6)
    assert viewer.meta["window"] == {"center": 40.0, "width": 400.0}
    assert viewer.meta["presets"][0]["name"] == "Soft tissue" and viewer.display.dtype == np.uint8
