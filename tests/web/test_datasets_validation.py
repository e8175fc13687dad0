"""Malformed uploads each give their specific problem, and leave the database and data dir unchanged.

An import is atomic: a failed or cancelled upload, validation or import leaves no dataset row, no item
row and no file behind; only its upload session remains, with the report and the reason.
"""

from __future__ import annotations

import pytest

from tests.web.datasets_support import (
    generic_files,
    jpeg,
    mask_png,
    media_files,
    png,
    tar_gz_bytes,
    upload,
    zip_bytes,
)

pytestmark = pytest.mark.django_db


def _unchanged(before: set[str]) -> None:
    from webapp.datasets.models import Dataset, DatasetItem

    assert not Dataset.objects.exists() and not DatasetItem.objects.exists()
    assert media_files() == before


def _report(client, upload_id):
    return client.get(f"/api/datasets/uploads/{upload_id}/report/").json()


def _problem(report, code):
    matches = [p for p in report["report"]["problems"] if p["code"] == code]
    assert matches, report["report"]["problems"]
    return matches[0]


@pytest.mark.parametrize(
    "case", ["zip_slip", "zip_symlink", "tar_symlink", "uncompressed_too_large", "decompression_bomb"]
)
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
    upload_id, response = upload(trainer, team.pk, content, filename)
    assert response.json()["state"] == "failed"
    report = _report(trainer, upload_id)
    problem = _problem(report, code)
    assert problem["blocking"] and report["report"]["importable"] is False
    if path:
        assert problem["path"] == path
    assert code in report["error"]
    confirm = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json")
    assert confirm.status_code == 409
    _unchanged(before)  # no dataset, the archive is gone, nothing was stored
    assert trainer.delete(f"/api/datasets/uploads/{upload_id}/").status_code == 204
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
    upload_id, response = upload(trainer, team.pk, zip_bytes(files))
    assert response.json()["state"] == "awaiting_confirmation"
    problem = _problem(_report(trainer, upload_id), code)
    assert (problem["path"], problem["action"], problem["blocking"]) == (path, action, False)
    _unchanged(before | {f for f in media_files() if f.startswith("uploads/")})  # only the archive, awaiting a choice
    cancelled = trainer.post(f"/api/datasets/uploads/{upload_id}/cancel/").json()
    assert cancelled["state"] == "cancelled" and cancelled["error"] == "Cancelled by trainer."
    _unchanged(before)


def test_archive_larger_than_the_limit_is_refused_before_any_byte(trainer, team, monkeypatch):
    from webapp.datasets import conf
    from webapp.datasets.models import Dataset, DatasetUpload

    before = media_files()
    monkeypatch.setattr(conf, "MAX_ARCHIVE_BYTES", 100)
    response = trainer.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "big.zip", "size": 101}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "archive_too_large"
    response = trainer.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "notes.txt", "size": 10}, format="json"
    )
    assert response.json()["error"]["code"] == "unsupported_archive"
    assert not DatasetUpload.objects.exists()
    monkeypatch.setattr(conf, "MAX_ARCHIVE_BYTES", 10**9)
    created = trainer.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "a.zip", "size": 10}, format="json"
    ).json()
    too_much = trainer.put(f"{created['upload_url']}?offset=0", b"x" * 11, content_type="application/octet-stream")
    assert too_much.status_code == 413 and too_much.json()["error"]["code"] == "upload_too_large"
    assert trainer.get(f"/api/datasets/uploads/{created['id']}/status/").json()["upload_received"] == 0
    trainer.post(f"/api/datasets/uploads/{created['id']}/cancel/")
    assert not Dataset.objects.exists()
    _unchanged(before)


def test_garbage_archive_is_reported_not_crashing(trainer, team):
    before = media_files()
    upload_id, response = upload(trainer, team.pk, b"PK\x03\x04 this is not really a zip file")
    assert response.json()["state"] == "failed"
    assert _problem(_report(trainer, upload_id), "archive_corrupt")["blocking"]
    _unchanged(before)


def test_a_failed_validation_leaves_no_dataset_and_no_file(trainer, team):
    from webapp.datasets.models import Dataset

    datasets, before = Dataset.objects.count(), media_files()
    _, response = upload(trainer, team.pk, zip_bytes({"readme.txt": b"no images here"}))
    assert response.json()["state"] == "failed"
    assert Dataset.objects.count() == datasets
    assert media_files() == before


def test_the_upload_session_keeps_the_report_and_the_reason_after_a_failure(trainer, team):
    files = generic_files(2)
    upload_id, _ = upload(trainer, team.pk, zip_bytes({**files, "../../evil.png": png()}))
    session = trainer.get(f"/api/datasets/uploads/{upload_id}/").json()
    assert session["state"] == "failed" and "archive_path_traversal" in session["error"]
    assert session["dataset"] is None and session["finished_at"]
    report = _report(trainer, upload_id)
    assert report["state"] == "failed" and report["error"] == session["error"]
    assert _problem(report, "archive_path_traversal")["path"] == "../../evil.png"
    listed = trainer.get("/api/datasets/uploads/?state=failed").json()
    assert [u["id"] for u in listed] == [upload_id] and listed[0]["error"] == session["error"]
    assert trainer.get("/api/datasets/").json() == []


@pytest.mark.parametrize("how", ["failure", "cancel", "failure_at_commit"])
def test_import_interrupted_midway_leaves_no_dataset_no_items_and_no_files(trainer, team, monkeypatch, how):
    from webapp.datasets import services
    from webapp.datasets.models import Dataset, DatasetItem, DatasetUpload
    from webapp.datasets.services import imports

    before = media_files()
    upload_id, _ = upload(trainer, team.pk, zip_bytes(generic_files(6)), chunk=None)
    archive_only = media_files()
    real_store, real_check, real_bulk = (
        imports.store_sample,
        imports._still_importing,
        DatasetItem.objects.bulk_create,
    )
    calls = []

    def flaky_store(sample, split, created):  # runs in the import's threads
        calls.append(sample.id)
        if how == "failure" and len(calls) == 4:
            raise OSError("disk full (injected)")
        return real_store(sample, split, created)

    def user_cancels_midway(pk):  # the import checks for a cancellation between batches
        if how == "cancel" and len(calls) >= 4 and DatasetUpload.objects.get(pk=pk).state == "importing":
            services.cancel(DatasetUpload.objects.get(pk=pk))
        return real_check(pk)

    def failing_bulk_create(objs, *args, **kwargs):  # the dataset row exists at this point, in the transaction
        assert Dataset.objects.count() == 1
        raise RuntimeError("database went away (injected)")

    monkeypatch.setattr(imports, "IMPORT_BATCH", 2)
    monkeypatch.setattr(imports, "store_sample", flaky_store)
    monkeypatch.setattr(imports, "_still_importing", user_cancels_midway)
    if how == "failure_at_commit":
        monkeypatch.setattr(DatasetItem.objects, "bulk_create", failing_bulk_create)
    assert archive_only - before  # the archive awaits confirmation
    response = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json")
    assert response.status_code == 200
    session = DatasetUpload.objects.get(pk=upload_id)
    if how == "failure":
        assert 4 <= len(calls) < 6
        assert session.state == "failed" and "disk full (injected)" in session.error
    elif how == "cancel":
        assert 4 <= len(calls) < 6
        assert session.state == "cancelled"
    else:
        assert len(calls) == 6 and real_bulk  # every file was stored, then the transaction failed
        assert session.state == "failed" and "database went away (injected)" in session.error
    assert session.dataset is None and session.upload_path == ""
    _unchanged(before)


def test_a_failed_import_keeps_the_files_another_dataset_shares(trainer, team, monkeypatch):
    from webapp.datasets import services, storage
    from webapp.datasets.models import Dataset, DatasetItem

    shared = generic_files(3)
    kept = upload(trainer, team.pk, zip_bytes(shared))[0]
    kept_dataset = trainer.post(f"/api/datasets/uploads/{kept}/confirm/", {}, format="json").json()["dataset"]
    kept_files = media_files()
    kept_rels = {
        rel for item in DatasetItem.objects.filter(dataset_id=kept_dataset) for rel in (item.image_file, item.mask_file)
    }
    # a second archive: the same three samples and three new ones; it fails after storing them all
    upload_id, _ = upload(
        trainer, team.pk, zip_bytes({**shared, **{k.replace("case", "new"): v for k, v in generic_files(3).items()}})
    )
    monkeypatch.setattr(
        DatasetItem.objects, "bulk_create", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("injected"))
    )
    assert trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json").json()["state"] == "failed"
    assert list(Dataset.objects.values_list("pk", flat=True)) == [kept_dataset]
    assert media_files() == kept_files  # the new files are gone, the shared ones stay
    assert all(storage.path_of(rel).is_file() for rel in kept_rels)
    assert DatasetItem.objects.filter(dataset_id=kept_dataset).count() == 3 == DatasetItem.objects.count()
    del services


def test_garbage_collection_removes_only_unreferenced_leftovers(trainer, team):
    from webapp.datasets import conf, services, storage
    from webapp.datasets.models import Dataset, DatasetUpload

    kept = upload(trainer, team.pk, zip_bytes(generic_files(2)))[0]
    kept_dataset = trainer.post(f"/api/datasets/uploads/{kept}/confirm/", {}, format="json").json()["dataset"]
    orphan, _, created = storage.put_bytes(b"left behind by a killed worker", ".png")
    assert created
    result = services.collect_garbage(min_age_s=0, stale_upload_s=60)
    assert result["objects"] >= 1
    assert not storage.path_of(orphan).exists()
    referenced = {i.image_file for i in Dataset.objects.get(pk=kept_dataset).items.all()}
    assert all(storage.path_of(rel).exists() for rel in referenced)
    assert not list(conf.tmp_dir().iterdir())
    assert DatasetUpload.objects.get(pk=kept).state == "imported"


def test_garbage_collection_cancels_stale_uploads_and_removes_their_staged_archives(trainer, team, settings):
    from dataclasses import replace

    from webapp.datasets import services, storage
    from webapp.datasets.models import Dataset, DatasetUpload

    settings.STUDIO = replace(settings.STUDIO, dataset_upload_stale_hours=2)
    before = media_files()
    stale = trainer.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "s.zip", "size": 10}, format="json"
    ).json()
    trainer.put(f"{stale['upload_url']}?offset=0", b"12345", content_type="application/octet-stream")
    fresh = trainer.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "f.zip", "size": 10}, format="json"
    ).json()
    staged = DatasetUpload.objects.get(pk=stale["id"]).upload_path
    assert storage.path_of(staged).stat().st_size == 5
    DatasetUpload.objects.filter(pk=stale["id"]).update(updated_at="2000-01-01T00:00:00Z")
    DatasetUpload.objects.filter(pk=fresh["id"]).update(
        updated_at=__import__("django.utils.timezone").utils.timezone.now() - __import__("datetime").timedelta(hours=1)
    )
    result = services.collect_garbage()  # the configured age: 2 hours
    assert result["stale_uploads"] == 1
    session = trainer.get(f"/api/datasets/uploads/{stale['id']}/").json()
    assert session["state"] == "cancelled" and "abandoned" in session["error"] and "2 hours" in session["error"]
    assert not storage.path_of(staged).exists()
    assert trainer.get(f"/api/datasets/uploads/{fresh['id']}/").json()["state"] == "uploading"
    assert media_files() - before == {DatasetUpload.objects.get(pk=fresh["id"]).upload_path.removeprefix("datasets/")}
    assert not Dataset.objects.exists()


def test_datasets_gc_command_removes_staged_archives_no_active_session_points_at(trainer, team, capsys):
    import json

    from django.core.management import call_command

    from webapp.datasets import conf, storage

    leftover = f"{conf.UPLOADS}/killed-before-the-row-existed.zip"
    storage.path_of(leftover).parent.mkdir(parents=True, exist_ok=True)
    storage.path_of(leftover).write_bytes(b"partial")
    active = trainer.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "a.zip", "size": 10}, format="json"
    ).json()
    call_command("datasets_gc", "--min-age", "0")
    result = json.loads(capsys.readouterr().out)
    assert result["uploads"] >= 1 and result["stale_uploads"] == 0  # (other tests may leave staged files too)
    assert not storage.path_of(leftover).exists()
    assert (
        trainer.put(
            f"{active['upload_url']}?offset=0", b"0123456789", content_type="application/octet-stream"
        ).status_code
        == 200
    )  # the active one is untouched
