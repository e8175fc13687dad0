"""Stored files leave the web tier as files: embeddings are encoded once by the worker, and a configured
proxy (nginx ``X-Accel-Redirect``, Apache/lighttpd ``X-Sendfile``) sends the bytes instead of Python."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from kdsam_core.embedding_codec import decode_embedding, encode_embedding
from tests.conftest import LANDSCAPE_JPEG
from tests.web.test_images_api import upload
from webapp.kdsam_studio.config import ConfigurationError, StudioConfig
from webapp.segmentation.models import Embedding

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    return response.getvalue()


@pytest.fixture
def embedded(api):
    image_id = upload(api, "polyp.jpg", LANDSCAPE_JPEG.read_bytes()).json()["id"]
    return image_id, Embedding.objects.get(image_id=image_id)


def stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as f:
        return f.read()


def test_the_worker_stores_the_browser_encoding_next_to_the_float16_embedding(embedded):
    _, embedding = embedded
    raw = stored(embedding.file.name)
    array, header = decode_embedding(raw)
    extra = {k: v for k, v in header.items() if k not in ("version", "dtype", "shape", "encoding")}
    assert embedding.browser_file.name != embedding.file.name
    assert stored(embedding.browser_file.name) == encode_embedding(array, encoding="quant8-zlib", **extra)


def test_serving_an_embedding_in_either_encoding_never_decodes_or_encodes_it(api, embedded, monkeypatch):
    image_id, embedding = embedded

    def transcoding(*args, **kwargs):
        raise AssertionError("the web tier transcoded an embedding")

    for module in ("kdsam_core.embedding_codec", "webapp.segmentation.services"):
        for name in ("encode_embedding", "decode_embedding"):
            monkeypatch.setattr(f"{module}.{name}", transcoding, raising=False)
    raw = api.get(f"/api/images/{image_id}/embedding/")
    compact = api.get(f"/api/images/{image_id}/embedding/?encoding=quant8-zlib")
    assert raw.status_code == compact.status_code == 200
    assert body(raw) == stored(embedding.file.name)
    assert body(compact) == stored(embedding.browser_file.name)


@pytest.fixture
def behind_nginx(settings):
    settings.STUDIO = replace(settings.STUDIO, file_delivery="x-accel-redirect", file_delivery_prefix="/_kdsam_files/")


def test_behind_nginx_an_embedding_is_an_internal_redirect_to_its_stored_file(api, embedded, behind_nginx):
    image_id, embedding = embedded
    response = api.get(f"/api/images/{image_id}/embedding/?encoding=quant8-zlib")
    assert response.status_code == 200 and body(response) == b""
    assert response["X-Accel-Redirect"] == f"/_kdsam_files/{embedding.browser_file.name}"
    assert response["Content-Type"] == "application/x-kdsam-embedding"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"


def test_behind_nginx_an_image_file_is_an_internal_redirect_to_its_stored_file(api, embedded, behind_nginx):
    from webapp.segmentation.models import Image

    image_id, _ = embedded
    image = Image.objects.get(pk=image_id)
    response = api.get(f"/api/images/{image_id}/file/")
    assert response.status_code == 200 and body(response) == b""
    assert response["X-Accel-Redirect"] == f"/_kdsam_files/{image.file.name}"
    assert response["Content-Type"] == image.content_type


def test_with_x_sendfile_the_header_names_the_files_absolute_path(api, embedded, settings):
    settings.STUDIO = replace(settings.STUDIO, file_delivery="x-sendfile")
    image_id, embedding = embedded
    response = api.get(f"/api/images/{image_id}/embedding/")
    assert body(response) == b"" and response["X-Sendfile"] == default_storage.path(embedding.file.name)


def test_another_user_gets_404_and_no_file_header(embedded, behind_nginx, django_user_model):
    image_id, _ = embedded
    stranger = APIClient()
    stranger.force_login(django_user_model.objects.create_user("stranger", password=None))
    for suffix in ("embedding/", "embedding/?encoding=quant8-zlib", "file/"):
        response = stranger.get(f"/api/images/{image_id}/{suffix}")
        assert response.status_code == 404
        assert "X-Accel-Redirect" not in response and "X-Sendfile" not in response


def test_an_unknown_file_delivery_is_a_configuration_error_naming_the_variable():
    with pytest.raises(ConfigurationError, match="KDSAM_FILE_DELIVERY"):
        StudioConfig.from_env({"KDSAM_ENV": "test", "KDSAM_FILE_DELIVERY": "ftp"})


def test_a_file_delivery_prefix_must_be_an_absolute_path_ending_in_a_slash():
    with pytest.raises(ConfigurationError, match="KDSAM_FILE_DELIVERY_PREFIX"):
        StudioConfig.from_env({"KDSAM_ENV": "test", "KDSAM_FILE_DELIVERY_PREFIX": "files"})


def test_the_migration_encodes_embeddings_stored_before_the_worker_wrote_both(embedded):
    import importlib

    from django.apps import apps

    _, embedding = embedded
    default_storage.delete(embedding.browser_file.name)
    Embedding.objects.filter(pk=embedding.pk).update(browser_file="")
    migration = importlib.import_module("webapp.segmentation.migrations.0003_embedding_browser_file")
    migration.encode_existing_embeddings_for_the_browser(apps, None)
    embedding.refresh_from_db()
    _, header = decode_embedding(stored(embedding.file.name))
    assert decode_embedding(stored(embedding.browser_file.name))[1]["encoding"] == "quant8-zlib"
    assert decode_embedding(stored(embedding.browser_file.name))[1]["input_size"] == header["input_size"]
