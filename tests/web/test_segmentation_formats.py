"""TIFF, BMP and single-frame DICOM uploads: converted for display, DICOM de-identified, window/level
values served, and DICOM-SEG export read back with pydicom/highdicom."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from kdsam_core.embedding_codec import decode_embedding
from kdsam_core.masks_io import rle_encode
from tests.dicom_support import PHI as BASE_PHI
from tests.dicom_support import dicom_bytes
from tests.web.test_images_api import stored_files, upload
from webapp.segmentation.models import Image

pytestmark = pytest.mark.django_db

PHI = {**BASE_PHI, "ReferringPhysicianName": "House^Gregory"}


@pytest.fixture(autouse=True)
def no_embedding(monkeypatch):
    """The conversions are under test here, not the encoder."""
    monkeypatch.setattr("webapp.segmentation.services.enqueue_embedding", lambda image: None)


def ct_dicom(frames: int = 1) -> tuple[bytes, np.ndarray]:
    """A 48×64 CT slice (stored values 0..2000, HU = stored − 1024) with :data:`PHI`; ``frames`` > 1 repeats it."""
    stored = np.random.default_rng(0).integers(0, 2000, size=(48, 64)).astype(np.uint16)
    content = dicom_bytes(
        stored,
        frames=frames,
        RescaleSlope=1,
        RescaleIntercept=-1024,
        PixelSpacing=[0.7, 0.7],
        ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
        ImagePositionPatient=[0, 0, 0],
        SliceThickness=1.0,
        ReferringPhysicianName=PHI["ReferringPhysicianName"],
    )
    return content, stored.astype(np.float32) - 1024


def test_dicom_upload_is_de_identified_converted_and_windowable(api):
    content, hu = ct_dicom()
    response = upload(api, "slice.dcm", content)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"], body["source_format"]) == (64, 48, "dicom")
    assert body["display"]["modality"] == "CT" and body["display"]["range"] == [float(hu.min()), float(hu.max())]
    assert [p["name"] for p in body["display"]["presets"]][:2] == ["Soft tissue", "Lung"]
    image = Image.objects.get(pk=body["id"])
    # nothing stored anywhere carries the patient's identity
    for path in stored_files():
        data = path.read_bytes()
        for value in PHI.values():
            assert value.encode() not in data, f"{value} stored in {path}"
        assert b"private vendor secret" not in data
    with default_storage.open(image.dicom_file.name, "rb") as f:
        stored = pydicom.dcmread(f)
    assert stored.PatientIdentityRemoved == "YES" and str(stored.PatientName) == "Anonymous"
    assert np.array_equal(stored.pixel_array.astype(np.float32) - 1024, hu)
    # the display PNG: soft-tissue window (40/400) of the HU values
    png = np.array(PILImage.open(io.BytesIO(api.get(body["file_url"]).getvalue())))
    assert png.shape == (48, 64) and png.dtype == np.uint8
    assert png[hu < 40 - 200].max() == 0 and png[hu > 40 + 200].min() == 255
    values, header = decode_embedding(api.get(body["pixels_url"]).content)
    assert np.array_equal(values, hu) and header["image_size"] == [48, 64]


def test_dicom_seg_export_reads_back_with_highdicom_and_matches_the_mask(api):
    body = upload(api, "slice.dcm", ct_dicom()[0]).json()
    mask = np.zeros((48, 64), bool)
    mask[10:30, 5:20] = True
    saved = api.post(
        f"/api/images/{body['id']}/masks/", {"label": "lesion A", "rle": rle_encode(mask)}, format="json"
    ).json()
    assert set(saved["export_urls"]) == {"png", "nifti", "coco", "dicom_seg"}
    response = api.get(saved["export_urls"]["dicom_seg"])
    assert response.status_code == 200 and response["Content-Type"] == "application/dicom"
    seg = hd.seg.segread(io.BytesIO(response.content))
    assert seg.Modality == "SEG" and str(seg.PatientName) == "Anonymous"
    assert seg.get_segment_description(1).SegmentLabel == "lesion A"
    frames = pydicom.dcmread(io.BytesIO(response.content)).pixel_array
    assert np.array_equal(frames.astype(bool), mask)


def test_dicom_seg_is_not_offered_for_png_images(api):
    from tests.conftest import SQUARE_JPEG

    body = upload(api, "a.jpg", SQUARE_JPEG.read_bytes()).json()
    mask = np.zeros((256, 256), bool)
    mask[1:5, 1:5] = True
    saved = api.post(f"/api/images/{body['id']}/masks/", {"label": "x", "rle": rle_encode(mask)}, format="json").json()
    assert "dicom_seg" not in saved["export_urls"]
    response = api.get(f"/api/masks/{saved['id']}/export/dicom_seg/")
    assert response.status_code == 400 and "png, nifti, coco" in response.json()["error"]["message"]
    assert api.get(f"/api/images/{body['id']}/pixels/").json()["error"]["code"] == "not_dicom"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (ct_dicom(frames=3)[0], "3 frames"),
        (ct_dicom()[0][:400], "truncated"),
        (ct_dicom()[0][:-1000], "truncated"),
    ],
)
def test_multi_frame_or_damaged_dicom_is_rejected_clearly_and_nothing_is_stored(api, content, words):
    before = stored_files()
    response = upload(api, "bad.dcm", content)
    assert response.status_code == 400
    assert "bad.dcm" in response.json()["error"]["message"] and words in response.json()["error"]["message"]
    assert stored_files() == before and Image.objects.count() == 0


def test_sixteen_bit_tiff_and_bmp_are_converted_to_png(api):
    ramp = np.arange(30 * 40, dtype=np.uint16).reshape(30, 40) * 50
    buffer = io.BytesIO()
    PILImage.fromarray(ramp).save(buffer, format="TIFF")
    body = upload(api, "scan.tif", buffer.getvalue()).json()
    assert (body["width"], body["height"], body["source_format"]) == (40, 30, "tiff")
    png = PILImage.open(io.BytesIO(api.get(body["file_url"]).getvalue()))
    assert png.format == "PNG" and png.mode == "L"
    values = np.array(png).astype(int)
    assert values[0, 0] == 0 and values[-1, -1] == 255 and (np.diff(values.ravel()) >= 0).all()

    rgb = np.zeros((12, 9, 3), np.uint8)
    rgb[..., 0] = 200
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="BMP")
    body = upload(api, "photo.bmp", buffer.getvalue()).json()
    assert body["source_format"] == "bmp"
    assert np.array_equal(np.array(PILImage.open(io.BytesIO(api.get(body["file_url"]).getvalue()))), rgb)
