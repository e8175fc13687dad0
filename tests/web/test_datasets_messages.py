"""What a user reads about an upload session (report, error) names files relative to the dataset or by the
user's file name, never by a server path (the data dir, the extraction folder, the staged upload)."""

from __future__ import annotations

import errno
import json

import pytest

from tests.web.datasets_support import generic_files, png, upload, zip_bytes

pytestmark = pytest.mark.django_db


def _server_paths() -> list[str]:
    from django.conf import settings

    from webapp.datasets import conf

    folders = {settings.STUDIO.data_dir, conf.media_root(), conf.tmp_dir()}
    return sorted({str(p) for p in folders} | {str(p.resolve()) for p in folders})


def _shown(client, upload_id) -> str:
    """Everything the API shows about the upload session, as one JSON text."""
    return json.dumps(client.get(f"/api/datasets/uploads/{upload_id}/report/").json())


def _assert_no_server_path(text: str) -> None:
    assert not [p for p in _server_paths() if p in text] and "kdsam-dataset-" not in text, text


def test_archive_that_cannot_be_extracted_is_reported_without_the_extraction_folder(trainer, team):
    # a file "data/images", then a file inside a folder of that name: writing it fails in the extraction folder
    content = zip_bytes({"data/images": b"not a folder", "data/images/case0.png": png()})
    upload_id, response = upload(trainer, team.pk, content, "scans.zip")
    assert response.json()["state"] == "failed"
    shown = _shown(trainer, upload_id)
    _assert_no_server_path(shown)
    assert "scans.zip" in shown and "data/images" in shown


def test_validation_that_crashes_is_reported_without_the_staged_upload_path(trainer, team, monkeypatch):
    from webapp.datasets.models import DatasetUpload
    from webapp.datasets.services import uploads, validation
    from webapp.datasets.services.sessions import source_of

    monkeypatch.setattr(uploads, "enqueue_validation", lambda upload_id: None)
    upload_id, _ = upload(trainer, team.pk, zip_bytes(generic_files(2)), "scans.zip")
    source_of(DatasetUpload.objects.get(pk=upload_id)).unlink()  # the staged archive vanished: open_dataset raises
    validation.validate(upload_id)
    shown = _shown(trainer, upload_id)
    assert DatasetUpload.objects.get(pk=upload_id).state == "failed"
    _assert_no_server_path(shown)
    assert "scans.zip" in shown


def test_import_that_fails_is_reported_without_the_data_dir(trainer, team, monkeypatch):
    from webapp.datasets import conf
    from webapp.datasets.services import imports

    target = conf.media_root() / conf.OBJECTS / "ab" / "cdef.png"

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(imports, "store_sample", full_disk)
    upload_id, response = upload(trainer, team.pk, zip_bytes(generic_files(2)), "scans.zip")
    assert response.json()["state"] == "awaiting_confirmation"
    response = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json")
    assert response.json()["state"] == "failed"
    shown = _shown(trainer, upload_id) + json.dumps(response.json())
    _assert_no_server_path(shown)
    assert "No space left on device" in shown
