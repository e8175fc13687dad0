"""An uploaded archive is checked against the size limit and the free space from the sizes it declares,
once it has arrived and before anything is extracted; the upload itself only needs room for its own bytes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.web.datasets_support import generic_files, media_files, tar_gz_bytes, upload, zip_bytes

pytestmark = pytest.mark.django_db

PADDING = b"\0" * 200_000  # compresses to a few hundred bytes


def _free_space(monkeypatch, free: int) -> None:
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10**12, used=10**12 - free, free=free))


def _failed_with(client, upload_id, code):
    from webapp.datasets.models import Dataset, DatasetItem

    report = client.get(f"/api/datasets/uploads/{upload_id}/report/").json()
    problems = report["report"]["problems"]
    assert [p["code"] for p in problems] == [code] and problems[0]["blocking"]
    assert report["state"] == "failed" and code in report["error"]
    assert not Dataset.objects.exists() and not DatasetItem.objects.exists()
    return problems[0]


def test_upload_declaring_more_than_the_free_space_fails_with_archive_insufficient_storage(trainer, team, monkeypatch):
    content = zip_bytes({**generic_files(2), "data/padding.bin": PADDING}, deflate=True)
    assert len(content) < 20_000
    _free_space(monkeypatch, 100_000)
    before = media_files()
    upload_id, response = upload(trainer, team.pk, content, "scans.zip")
    assert response.json()["state"] == "failed"
    problem = _failed_with(trainer, upload_id, "archive_insufficient_storage")
    assert problem["path"] == "scans.zip" and "scans.zip" in problem["message"]
    assert "100000 bytes (97.7 KiB) free" in problem["message"]
    assert media_files() == before  # the archive is gone, nothing was extracted or stored


def test_targz_upload_declaring_more_than_the_limit_fails_with_archive_too_large_naming_it(trainer, team, monkeypatch):
    from webapp.datasets import conf

    monkeypatch.setattr(conf, "MAX_UNCOMPRESSED_BYTES", 100_000)
    content = tar_gz_bytes({**generic_files(2), "data/padding.bin": PADDING})
    before = media_files()
    upload_id, response = upload(trainer, team.pk, content, "scans.tar.gz")
    assert response.json()["state"] == "failed"
    problem = _failed_with(trainer, upload_id, "archive_too_large")
    assert problem["path"] == "scans.tar.gz"
    assert all(text in problem["message"] for text in ("scans.tar.gz", "100000 bytes", "split the dataset"))
    assert media_files() == before


def test_starting_an_upload_needs_free_space_for_the_archive_only(trainer, team, monkeypatch):
    _free_space(monkeypatch, 1_500)
    response = trainer.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "scans.zip", "size": 1_000}, format="json"
    )
    assert response.status_code == 201, response.content
    response = trainer.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "scans.zip", "size": 2_000}, format="json"
    )
    assert response.status_code == 507 and response.json()["error"]["code"] == "insufficient_storage"
    assert "scans.zip" in response.json()["error"]["message"]
