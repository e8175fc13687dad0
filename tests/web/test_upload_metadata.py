"""Patient data in image metadata (PNG text chunks, EXIF, JPEG comments) is never stored or served back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin

from tests.web.datasets_support import mask_png, upload, zip_bytes
from webapp.segmentation.models import Image

pytestmark = pytest.mark.django_db

PATIENT = b"Doe^Jane"


def random_pixels(seed: int, width: int = 40, height: int = 30) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def png_with_patient_text(seed: int = 1) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", "Doe^Jane")
    buffer = io.BytesIO()
    PILImage.fromarray(random_pixels(seed)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def jpeg_with_patient_exif_and_comment(seed: int = 2) -> bytes:
    exif = PILImage.Exif()
    exif[0x013B] = "Doe^Jane"  # Artist
    buffer = io.BytesIO()
    PILImage.fromarray(random_pixels(seed)).save(buffer, format="JPEG", exif=exif, comment=b"Patient: Doe^Jane")
    return buffer.getvalue()


def pixels(content: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(content)) as img:
        return np.asarray(img)


def served(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


def post_image(api, name: str, content: bytes) -> dict:
    f = io.BytesIO(content)
    f.name = name
    response = api.post("/api/images/", {"file": f}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(
    "name, content, content_type",
    [
        ("scan.png", png_with_patient_text(), "image/png"),
        ("photo.jpg", jpeg_with_patient_exif_and_comment(), "image/jpeg"),
    ],
    ids=["png-text", "jpeg-exif-comment"],
)
def test_uploaded_image_is_stored_and_served_without_its_metadata_and_with_identical_pixels(
    api, name, content, content_type
):
    assert PATIENT in content
    body = post_image(api, name, content)
    image = Image.objects.get(pk=body["id"])
    with image.file.open("rb") as handle:
        stored = handle.read()
    assert PATIENT not in stored
    assert image.content_type == content_type
    served_bytes = served(api, body["file_url"])
    assert served_bytes == stored
    assert np.array_equal(pixels(served_bytes), pixels(content))


def test_uploaded_tiff_is_converted_to_a_png_without_its_tags(api):
    buffer = io.BytesIO()
    PILImage.fromarray(random_pixels(3)).save(
        buffer,
        format="TIFF",
        tiffinfo={270: "Patient Doe^Jane", 315: "Doe^Jane"},  # ImageDescription, Artist
    )
    body = post_image(api, "scan.tif", buffer.getvalue())
    served_bytes = served(api, body["file_url"])
    assert served_bytes.startswith(b"\x89PNG") and PATIENT not in served_bytes
    assert np.array_equal(pixels(served_bytes), random_pixels(3))


def test_imported_dataset_images_are_stored_and_served_without_their_metadata(trainer, team):
    from webapp.datasets import storage
    from webapp.datasets.models import DatasetItem

    seed = int(np.random.default_rng().integers(1000, 2**31))  # fresh content: stored objects outlive the test
    images = {"case0.png": png_with_patient_text(seed), "case1.jpg": jpeg_with_patient_exif_and_comment(seed + 1)}
    files = {f"data/images/{name}": content for name, content in images.items()}
    files.update({f"data/masks/case{i}.png": mask_png(40, 30, seed=seed + i) for i in range(2)})
    upload_id, response = upload(trainer, team.pk, zip_bytes(files))
    assert response.json()["state"] == "awaiting_confirmation", response.json()
    confirmed = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json").json()
    assert confirmed["state"] == "imported", confirmed

    items = trainer.get(f"/api/datasets/{confirmed['dataset']}/items/").json()["results"]
    assert sorted(item["item_id"] for item in items) == ["case0", "case1"]
    for item in items:
        original = images["case0.png" if item["item_id"] == "case0" else "case1.jpg"]
        stored = storage.path_of(DatasetItem.objects.get(pk=item["id"]).image_file).read_bytes()
        assert PATIENT not in stored
        served_bytes = served(trainer, item["image_url"])
        assert served_bytes == stored
        assert np.array_equal(pixels(served_bytes), pixels(original))
