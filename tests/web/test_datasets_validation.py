"""Malformed uploads each give their specific problem, and leave the database and data dir unchanged.

Also: an import that fails or is cancelled midway leaves no item rows and no files behind.
"""

from __future__ import annotations

import pytest

from tests.web.test_datasets_support import (  # noqa: F401 - fixtures
    generic_files,
    jpeg,
    mask_png,
    media_files,
    png,
    tar_gz_bytes,
    team,
    trainer,
    upload,
    zip_bytes,
)

pytestmark = pytest.mark.django_db


def _unchanged(before: set[str]) -> None:
    from webapp.datasets.models import DatasetItem

    assert not DatasetItem.objects.exists()
    assert media_files() == before


def _report(client, dataset_id):
    return client.get(f"/api/datasets/{dataset_id}/report/").json()


def _problem(report, code):
    matches = [p for p in report["report"]["problems"] if p["code"] == code]
    assert matches, report["report"]["problems"]
    return matches[0]


@pytest.mark.parametrize("case", ["zip_slip", "zip_symlink", "tar_symlink", "uncompressed_too_large", "decompression_bomb"])
def test_blocking_problems_fail_validation_and_store_nothing(trainer, team, monkeypatch, case):
    from webapp.datasets import conf
    from webapp.datasets.models import Dataset

    files = generic_files(2)
    filename = "ds.zip"
    if case == "zip_slip":
        content, code, path = zip_bytes({**files, "../../evil.png": png()}), "archive_path_traversal", "../../evil.png"
    elif case == "zip_symlink":
        content = zip_bytes(files, symlinks={"data/images/link.png": "/etc/passwd"})
        code, path = "archive_symlink", "data/images/link.png"
    elif case == "tar_symlink":
        import io
        import tarfile

        buffer = io.BytesIO(tar_gz_bytes(files))
        with tarfile.open(fileobj=buffer, mode="r:gz") as original:
            members = [(m, original.extractfile(m).read()) for m in original.getmembers()]
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            for member, data in members:
                archive.addfile(member, io.BytesIO(data))
            link = tarfile.TarInfo("data/masks/link.png")
            link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
            archive.addfile(link)
        content, filename, code, path = out.getvalue(), "ds.tar.gz", "archive_symlink", "data/masks/link.png"
    elif case == "uncompressed_too_large":
        monkeypatch.setattr(conf, "MAX_UNCOMPRESSED_BYTES", 200)
        content, code, path = zip_bytes(files), "archive_too_large", None
    else:
        from kdsam_core.datasets import Limits

        monkeypatch.setattr(conf, "limits", lambda: Limits(max_image_pixels=100, temp_dir=str(conf.tmp_dir())))
        content, code, path = zip_bytes(files), "decompression_bomb", None
    before = media_files()
    dataset_id, response = upload(trainer, team.pk, content, filename)
    assert response.json()["state"] == "failed"
    report = _report(trainer, dataset_id)
    problem = _problem(report, code)
    assert problem["blocking"] and report["report"]["importable"] is False
    if path:
        assert problem["path"] == path
    assert code in report["error"]
    confirm = trainer.post(f"/api/datasets/{dataset_id}/confirm/", {}, format="json")
    assert confirm.status_code == 409
    _unchanged(before)  # the archive is gone, nothing was stored
    trainer.delete(f"/api/datasets/{dataset_id}/")
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("case", ["truncated_jpeg", "size_mismatch", "missing_mask"])
def test_sample_problems_are_reported_with_their_file_and_nothing_is_stored(trainer, team, case):
    files = generic_files(2)
    if case == "truncated_jpeg":
        files["data/images/broken.jpg"] = jpeg()[:300]
        files["data/masks/broken.png"] = mask_png(32, 24)
        code, path, action = "unreadable_image", "data/images/broken.jpg", "skip_sample"
    elif case == "size_mismatch":
        files["data/images/odd.png"] = png(20, 20, seed=5)
        files["data/masks/odd.png"] = mask_png(16, 12)
        code, path, action = "size_mismatch", "data/masks/odd.png", "skip_sample"
    else:
        files["data/images/alone.png"] = png(seed=8, width=19)
        code, path, action = "image_without_mask", "data/images/alone.png", "import_unlabelled"
    before = media_files()
    dataset_id, response = upload(trainer, team.pk, zip_bytes(files))
    assert response.json()["state"] == "awaiting_confirmation"
    problem = _problem(_report(trainer, dataset_id), code)
    assert (problem["path"], problem["action"], problem["blocking"]) == (path, action, False)
    _unchanged(before | {f for f in media_files() if f.startswith("uploads/")})  # only the archive, awaiting a choice
    cancelled = trainer.post(f"/api/datasets/{dataset_id}/cancel/").json()
    assert cancelled["state"] == "cancelled"
    _unchanged(before)


def test_archive_larger_than_the_limit_is_refused_before_any_byte(trainer, team, monkeypatch):
    from webapp.datasets import conf
    from webapp.datasets.models import Dataset

    before = media_files()
    monkeypatch.setattr(conf, "MAX_ARCHIVE_BYTES", 100)
    response = trainer.post("/api/datasets/", {"team": team.pk, "filename": "big.zip", "size": 101}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "archive_too_large"
    response = trainer.post("/api/datasets/", {"team": team.pk, "filename": "notes.txt", "size": 10}, format="json")
    assert response.json()["error"]["code"] == "unsupported_archive"
    monkeypatch.setattr(conf, "MAX_ARCHIVE_BYTES", 10**9)
    created = trainer.post("/api/datasets/", {"team": team.pk, "filename": "a.zip", "size": 10}, format="json").json()
    too_much = trainer.put(f"{created['upload_url']}?offset=0", b"x" * 11, content_type="application/octet-stream")
    assert too_much.status_code == 413 and too_much.json()["error"]["code"] == "upload_too_large"
    assert trainer.get(f"/api/datasets/{created['id']}/status/").json()["upload_received"] == 0
    trainer.post(f"/api/datasets/{created['id']}/cancel/")
    trainer.delete(f"/api/datasets/{created['id']}/")
    assert not Dataset.objects.exists()
    _unchanged(before)


def test_garbage_archive_is_reported_not_crashing(trainer, team):
    before = media_files()
    dataset_id, response = upload(trainer, team.pk, b"PK\x03\x04 this is not really a zip file")
    assert response.json()["state"] == "failed"
    assert _problem(_report(trainer, dataset_id), "archive_corrupt")["blocking"]
    _unchanged(before)


@pytest.mark.parametrize("how", ["failure", "cancel"])
def test_import_interrupted_midway_leaves_no_items_and_no_files(trainer, team, monkeypatch, how):
    from webapp.datasets import services
    from webapp.datasets.models import Dataset

    before = media_files()
    dataset_id, _ = upload(trainer, team.pk, zip_bytes(generic_files(6)), chunk=None)
    archive_only = media_files()
    real_store, real_check = services.store_sample, services._still_importing
    calls = []

    def flaky_store(dataset, sample, split, created):  # runs in the import's threads
        calls.append(sample.id)
        if how == "failure" and len(calls) == 4:
            raise OSError("disk full (injected)")
        return real_store(dataset, sample, split, created)

    def user_cancels_midway(pk):  # the import checks for a cancellation between batches
        if how == "cancel" and len(calls) >= 4 and Dataset.objects.get(pk=pk).state == "importing":
            services.cancel(Dataset.objects.get(pk=pk))
        return real_check(pk)

    monkeypatch.setattr(services, "IMPORT_BATCH", 2)
    monkeypatch.setattr(services, "store_sample", flaky_store)
    monkeypatch.setattr(services, "_still_importing", user_cancels_midway)
    assert archive_only - before  # the archive awaits confirmation
    response = trainer.post(f"/api/datasets/{dataset_id}/confirm/", {}, format="json")
    assert response.status_code == 200
    dataset = Dataset.objects.get(pk=dataset_id)
    assert 4 <= len(calls) < 6
    if how == "failure":
        assert dataset.state == "failed" and "disk full (injected)" in dataset.error
    else:
        assert dataset.state == "cancelled"
    _unchanged(before)


def test_garbage_collection_removes_only_unreferenced_leftovers(trainer, team):
    from webapp.datasets import conf, services, storage
    from webapp.datasets.models import Dataset

    kept = upload(trainer, team.pk, zip_bytes(generic_files(2)))[0]
    trainer.post(f"/api/datasets/{kept}/confirm/", {}, format="json")
    orphan, _, created = storage.put_bytes(b"left behind by a killed worker", ".png")
    assert created
    stale_id = trainer.post("/api/datasets/", {"team": team.pk, "filename": "s.zip", "size": 10}, format="json").json()["id"]
    Dataset.objects.filter(pk=stale_id).update(updated_at="2000-01-01T00:00:00Z")
    before_referenced = {f for f in media_files() if f.startswith("objects/")} - {orphan.removeprefix("datasets/")}
    result = services.collect_garbage(min_age_s=0, stale_upload_s=60)
    assert result["uploads"] >= 1
    assert not storage.path_of(orphan).exists()
    assert Dataset.objects.get(pk=stale_id).state == "cancelled"
    referenced = {i.image_file for i in Dataset.objects.get(pk=kept).items.all()}
    assert all(storage.path_of(rel).exists() for rel in referenced)
    assert not list(conf.tmp_dir().iterdir())
    del before_referenced
