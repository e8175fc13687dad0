"""Uploading images and fetching their embeddings through the JSON API."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image as PILImage

from kdsam_core.embedding_codec import CONTENT_TYPE, decode_embedding
from tests.conftest import LANDSCAPE_JPEG, PORTRAIT_PNG
from webapp.segmentation.models import Embedding, Image

pytestmark = pytest.mark.django_db


def stored_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file() and "models" not in p.relative_to(root).parts}


def upload(api, name: str, content: bytes):
    return api.post("/api/images/", {"file": _named(content, name)}, format="multipart")


def _named(content: bytes, name: str):
    f = io.BytesIO(content)
    f.name = name
    return f


def test_upload_stores_the_image_computes_its_embedding_and_marks_it_ready(api):
    response = upload(api, "polyp.jpg", LANDSCAPE_JPEG.read_bytes())
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["filename"], body["width"], body["height"]) == ("polyp.jpg", 622, 529)
    image = Image.objects.get(pk=body["id"])
    assert image.status == Image.Status.READY  # eager Celery in tests: the task ran on upload
    assert Embedding.objects.filter(image=image).count() == 1
    assert api.get(f"/api/images/{image.pk}/").json()["status"] == "ready"


def test_embedding_endpoint_serves_float16_kdem_with_the_image_sizes(api):
    image_id = upload(api, "scan.png", PORTRAIT_PNG.read_bytes()).json()["id"]
    response = api.get(f"/api/images/{image_id}/embedding/")
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE
    data = b"".join(response.streaming_content) if response.streaming else response.content
    array, header = decode_embedding(data)
    assert array.shape == (1, 256, 64, 64)
    assert header["dtype"] == "float16" and header["image_size"] == [477, 315] and header["input_size"] == [1024, 676]
    assert len(data) < 2 * 1024 * 1024 + 512


def test_upload_of_a_non_image_is_rejected_with_a_clear_message_and_nothing_is_stored(api):
    before_files, before_rows = stored_files(), Image.objects.count()
    response = upload(api, "notes.txt", b"this is not an image at all")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_image" and error["field"] == "file"
    assert "notes.txt" in error["message"] and "PNG or JPEG" in error["message"]
    assert Image.objects.count() == before_rows
    assert stored_files() == before_files


def test_upload_of_a_truncated_jpeg_is_rejected_and_nothing_is_stored(api):
    before_files = stored_files()
    response = upload(api, "cut.jpg", LANDSCAPE_JPEG.read_bytes()[:20000])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "corrupt_image"
    assert "truncated" in response.json()["error"]["message"]
    assert Image.objects.count() == 0 and stored_files() == before_files


def test_upload_of_another_image_format_names_the_format(api):
    buffer = io.BytesIO()
    PILImage.new("RGB", (10, 10)).save(buffer, format="GIF")
    response = upload(api, "anim.gif", buffer.getvalue())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_format"
    assert "GIF" in response.json()["error"]["message"]


def test_decompression_bomb_is_rejected(api, settings):
    settings.STUDIO = type(settings.STUDIO)(**{**settings.STUDIO.__dict__, "max_image_pixels": 1000})
    response = upload(api, "big.png", PORTRAIT_PNG.read_bytes())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_too_large"


def test_exif_rotated_jpeg_is_stored_upright(api):
    buffer = io.BytesIO()
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    PILImage.new("RGB", (40, 20), "red").save(buffer, format="JPEG", exif=exif)
    body = upload(api, "phone.jpg", buffer.getvalue()).json()
    assert (body["width"], body["height"]) == (20, 40)


def test_identical_upload_reuses_the_cached_embedding(api, monkeypatch):
    upload(api, "a.jpg", LANDSCAPE_JPEG.read_bytes())
    from webapp.segmentation import services

    def fail(*args, **kwargs):
        raise AssertionError("the encoder ran again for identical content")

    monkeypatch.setattr(services.registry_services, "load_encoder", fail)
    second = upload(api, "copy-of-a.jpg", LANDSCAPE_JPEG.read_bytes()).json()
    assert second["status"] == "ready"
    assert api.get(second["embedding_url"]).status_code == 200


def test_an_identical_upload_serves_the_browser_encoding_of_the_reused_embedding(api, monkeypatch):
    first = upload(api, "a.jpg", LANDSCAPE_JPEG.read_bytes()).json()
    from webapp.segmentation import services

    monkeypatch.setattr(services.registry_services, "load_encoder", lambda version: pytest.fail("encoder ran"))
    second = upload(api, "copy-of-a.jpg", LANDSCAPE_JPEG.read_bytes()).json()
    browser = api.get(second["embedding_url"], {"encoding": "quant8-zlib"})
    assert browser.status_code == 200, browser.content
    original = api.get(first["embedding_url"], {"encoding": "quant8-zlib"})
    assert b"".join(browser.streaming_content) == b"".join(original.streaming_content)


def test_embedding_of_an_image_still_queued_is_409(api, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from webapp.segmentation import services

    image_id_holder = {}

    def no_queue(image):
        image_id_holder["id"] = image.pk

    import unittest.mock as mock

    with mock.patch.object(services, "enqueue_embedding", no_queue):
        body = upload(api, "wait.png", PORTRAIT_PNG.read_bytes()).json()
    assert body["status"] == "queued" and body["queue_position"] == 1
    response = api.get(f"/api/images/{body['id']}/embedding/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "embedding_not_ready"


def test_images_of_another_user_are_404(api, django_user_model):
    image_id = upload(api, "mine.jpg", LANDSCAPE_JPEG.read_bytes()).json()["id"]
    other = django_user_model.objects.create_user("other", password="x-long-password-2")
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(other)
    for suffix in ("", "file/", "embedding/"):
        assert client.get(f"/api/images/{image_id}/{suffix}").status_code == 404
    assert client.get("/api/images/").json() == []


def test_api_requires_login():
    from rest_framework.test import APIClient

    assert APIClient().get("/api/images/").status_code == 403


def test_uploaded_file_is_served_back_unchanged(api):
    content = LANDSCAPE_JPEG.read_bytes()
    body = upload(api, "polyp.jpg", content).json()
    response = api.get(body["file_url"])
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == content
    assert np.asarray(PILImage.open(io.BytesIO(content))).shape == (529, 622, 3)


def test_computing_an_embedding_also_exports_the_browser_decoder_of_its_model_version(api):
    from webapp.registry.selectors import active_model_version
    from webapp.segmentation.browser_decoder import decoder_path

    path = decoder_path(active_model_version())
    path.unlink(missing_ok=True)
    assert upload(api, "polyp.jpg", LANDSCAPE_JPEG.read_bytes()).status_code == 201
    assert path.is_file()  # ready before the browser asks for it


def test_worker_warm_up_loads_the_active_encoder_and_exports_its_browser_decoder(monkeypatch):
    from webapp.registry import services as registry
    from webapp.registry.selectors import active_model_version
    from webapp.segmentation import services
    from webapp.segmentation.browser_decoder import decoder_path

    version = active_model_version()
    decoder_path(version).unlink(missing_ok=True)
    calls = []
    real = registry.load_encoder

    def counting(v):
        encoder = real(v)
        return lambda image: calls.append(image.shape) or encoder(image)

    monkeypatch.setattr(registry, "load_encoder", counting)
    services.warm_up_worker()
    assert calls == [(version.image_size, version.image_size, 3)]  # one forward pass at the model's input size
    assert decoder_path(version).is_file()
