"""A team's storage quota: the bytes a team stores (each file once per team, from recorded sizes), the usage
the datasets page shows (GET /api/datasets/storage/, members only), and uploads that would pass the quota
refused with 413 ``team_quota_exceeded`` before anything is stored (webapp/datasets/services/quota.py)."""

from __future__ import annotations

import importlib
import io
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from django.conf import settings as django_settings
from PIL import Image as PILImage

from tests.web.datasets_support import generic_files, mask_png, media_files, png, upload, zip_bytes

pytestmark = pytest.mark.django_db

GIB = 1024**3
HINT = "Delete datasets or images the team no longer needs, or ask an admin to raise the team's quota."


@pytest.fixture(autouse=True)
def no_encoder(monkeypatch):
    """Image uploads here are about storage: their embedding is not computed."""
    from webapp.segmentation import services

    monkeypatch.setattr(services, "enqueue_embedding", lambda image: None)


def _fresh() -> int:
    return int(np.random.default_rng().integers(1, 2**31))


def _set_quota(team, n_bytes: float | None) -> None:
    team.storage_quota_gb = None if n_bytes is None else n_bytes / GIB
    team.save()


def _storage(client, team) -> dict:
    response = client.get(f"/api/datasets/storage/?team={team.pk}")
    assert response.status_code == 200, response.content
    [usage] = response.json()
    return usage


def _disk_bytes(rels) -> int:
    return sum((Path(django_settings.MEDIA_ROOT) / rel).stat().st_size for rel in set(rels))


def _dataset_files(dataset_id: int) -> set[str]:
    from webapp.datasets.models import DatasetItem

    files = set()
    for image_file, mask_file in DatasetItem.objects.filter(dataset_id=dataset_id).values_list(
        "image_file", "mask_file"
    ):
        files |= {image_file, mask_file} - {""}
    return files


def _import(client, team, files: dict[str, bytes], name: str = "ds") -> int:
    upload_id, response = upload(client, team.pk, zip_bytes(files), name=name)
    assert response.json()["state"] == "awaiting_confirmation", response.json()
    response = client.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "imported", response.content
    return response.json()["dataset"]


def _start_upload(client, team, size: int, filename: str = "scans.zip"):
    return client.post("/api/datasets/uploads/", {"team": team.pk, "filename": filename, "size": size}, format="json")


def _upload_image(client, name: str, content: bytes):
    f = io.BytesIO(content)
    f.name = name
    return client.post("/api/images/", {"file": f}, format="multipart")


def _image_files() -> set[Path]:
    root = Path(django_settings.MEDIA_ROOT) / "images"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _bmp(seed: int, size: int = 300) -> bytes:
    """An uncompressed BMP (stored as uploaded) that a zip deflates to almost nothing."""
    array = np.zeros((size, size, 3), dtype=np.uint8)
    array[:4, :4] = np.random.default_rng(seed).integers(0, 255, (4, 4, 3), dtype=np.uint8)  # fresh content
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="BMP")
    return buffer.getvalue()


# --------------------------------------------------------------------------- what a team's storage is


def test_usage_is_the_bytes_of_the_teams_dataset_files_and_of_its_members_images(trainer, team_clinician, team):
    from webapp.segmentation.models import Image

    dataset_id = _import(trainer, team, generic_files(3))
    response = _upload_image(team_clinician, "scan.png", png(40, 30, seed=_fresh(), mode="RGB"))
    assert response.status_code == 201, response.content
    image = Image.objects.get(pk=response.json()["id"])

    usage = _storage(team_clinician, team)  # any role of the team sees it
    datasets = _disk_bytes(_dataset_files(dataset_id))
    images = _disk_bytes([image.file.name])
    assert (usage["datasets_bytes"], usage["images_bytes"]) == (datasets, images)
    assert datasets > 0 and images > 0
    assert (usage["models_bytes"], usage["uploads_bytes"]) == (0, 0)
    assert usage["used_bytes"] == datasets + images
    quota = round(django_settings.STUDIO.team_storage_quota_gb * GIB)
    assert (usage["quota_bytes"], usage["quota_source"]) == (quota, "default")
    assert usage["remaining_bytes"] == quota - datasets - images
    assert (usage["team"], usage["team_name"]) == (team.pk, "Radiology")


def test_a_file_two_datasets_of_a_team_hold_counts_once_and_counts_for_each_team_that_holds_it(trainer, outsider, team):
    from webapp.accounts.models import Team

    files = generic_files(3)
    first = _import(trainer, team, files, name="first")
    once = _storage(trainer, team)["datasets_bytes"]
    assert once == _disk_bytes(_dataset_files(first))
    _import(trainer, team, files, name="copy")  # the same content again: no new file
    assert _storage(trainer, team)["datasets_bytes"] == once

    other = Team.objects.get(name="Other")
    _import(outsider, other, files)  # another team holding the same files pays for them too ...
    assert _storage(outsider, other)["datasets_bytes"] == once
    assert _storage(trainer, team)["datasets_bytes"] == once  # ... and changes nothing for the first team


def test_deleting_a_dataset_frees_what_no_other_dataset_of_the_team_holds(trainer, team):
    shared = generic_files(2)
    own = {path.replace("case", "extra"): content for path, content in generic_files(2).items()}
    kept = _import(trainer, team, shared, name="kept")
    deleted = _import(trainer, team, {**shared, **own}, name="deleted")
    assert _storage(trainer, team)["datasets_bytes"] == _disk_bytes(_dataset_files(kept) | _dataset_files(deleted))

    assert trainer.delete(f"/api/datasets/{deleted}/").status_code == 204
    assert _storage(trainer, team)["datasets_bytes"] == _disk_bytes(_dataset_files(kept))
    assert trainer.delete(f"/api/datasets/{kept}/").status_code == 204
    assert _storage(trainer, team)["datasets_bytes"] == 0


def test_a_thumbnail_counts_once_it_is_made(trainer, team):
    from webapp.datasets import storage
    from webapp.datasets.models import DatasetItem

    dataset_id = _import(trainer, team, generic_files(1))
    before = _storage(trainer, team)["datasets_bytes"]
    item = DatasetItem.objects.get(dataset_id=dataset_id)
    assert trainer.get(f"/api/datasets/{dataset_id}/items/{item.pk}/thumbnail/").status_code == 200
    thumbnail = storage.thumbnail_rel(item.sha256, "image")
    assert _storage(trainer, team)["datasets_bytes"] == before + _disk_bytes([thumbnail])


def test_the_files_of_the_teams_model_versions_count(trainer, team):
    from webapp.registry.models import ModelVersion

    version = ModelVersion.objects.get(is_active=True)
    version.pk, version.is_active, version.team, version.name = None, False, team, "team version"
    version.save()
    files = [version.checkpoint.name, version.decoder_onnx.name, version.decoder_onnx_quantized.name]
    assert _storage(trainer, team)["models_bytes"] == _disk_bytes([f for f in files if f]) > 0


def test_unfinished_uploads_reserve_their_declared_size_until_they_are_settled(trainer, team):
    created = _start_upload(trainer, team, 5000)
    assert created.status_code == 201
    assert _storage(trainer, team)["uploads_bytes"] == 5000  # nothing has arrived yet: the declared size
    assert trainer.post(f"/api/datasets/uploads/{created.json()['id']}/cancel/").status_code == 200
    assert _storage(trainer, team)["uploads_bytes"] == 0


def test_a_second_usage_reads_recorded_sizes_without_touching_the_disk(trainer, team, monkeypatch):
    from webapp.datasets import storage

    _import(trainer, team, generic_files(2))
    first = _storage(trainer, team)

    def no_disk(rel):
        raise AssertionError(f"usage read {rel} from the disk")

    monkeypatch.setattr(storage, "path_of", no_disk)
    assert _storage(trainer, team) == first


def test_the_migration_records_the_size_of_every_file_stored_before_it(trainer, team):
    from django.apps import apps

    from webapp.datasets.models import StoredFile

    dataset_id = _import(trainer, team, generic_files(2))
    StoredFile.objects.all().delete()  # as before the migration
    migration = importlib.import_module("webapp.datasets.migrations.0005_storedfile")
    migration.record_sizes(apps, None)
    recorded = dict(StoredFile.objects.values_list("path", "size"))
    files = _dataset_files(dataset_id)
    assert {rel: recorded[rel] for rel in files} == {rel: _disk_bytes([rel]) for rel in files}


# --------------------------------------------------------------------------- who sees it


def test_another_teams_storage_is_404_and_the_list_holds_only_your_own_teams(outsider, trainer, team, api):
    assert outsider.get(f"/api/datasets/storage/?team={team.pk}").status_code == 404
    assert [u["team_name"] for u in outsider.get("/api/datasets/storage/").json()] == ["Other"]
    assert [u["team_name"] for u in trainer.get("/api/datasets/storage/").json()] == ["Radiology"]
    assert api.get("/api/datasets/storage/").json() == []  # a user in no team


# --------------------------------------------------------------------------- the quota


def test_the_teams_own_quota_wins_over_the_deployment_default(trainer, team, settings, monkeypatch):
    settings.STUDIO = replace(settings.STUDIO, team_storage_quota_gb=1)
    usage = _storage(trainer, team)
    assert (usage["quota_bytes"], usage["quota_source"]) == (GIB, "default")

    _set_quota(team, 2048)
    usage = _storage(trainer, team)
    assert (usage["quota_bytes"], usage["remaining_bytes"], usage["quota_source"]) == (2048, 2048, "team")
    assert _start_upload(trainer, team, 2049).status_code == 413

    _set_quota(team, 0)  # the team's 0: unlimited, whatever the default
    usage = _storage(trainer, team)
    assert (usage["quota_bytes"], usage["remaining_bytes"], usage["quota_source"]) == (None, None, "team")
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10**13, used=0, free=10**13))
    assert _start_upload(trainer, team, 2 * GIB).status_code == 201


def test_a_deployment_default_of_zero_is_unlimited(trainer, team, settings):
    settings.STUDIO = replace(settings.STUDIO, team_storage_quota_gb=0)
    usage = _storage(trainer, team)
    assert (usage["quota_bytes"], usage["remaining_bytes"]) == (None, None)


def test_the_deployment_default_comes_from_kdsam_team_storage_quota_gb():
    from webapp.kdsam_studio.config import ConfigurationError, StudioConfig

    assert StudioConfig.from_env({}).team_storage_quota_gb == 100
    assert StudioConfig.from_env({"KDSAM_TEAM_STORAGE_QUOTA_GB": "2.5"}).team_storage_quota_gb == 2.5
    assert StudioConfig.from_env({"KDSAM_TEAM_STORAGE_QUOTA_GB": "0"}).team_storage_quota_gb == 0
    for bad in ("-1", "lots", "nan", "inf"):
        with pytest.raises(ConfigurationError, match="KDSAM_TEAM_STORAGE_QUOTA_GB"):
            StudioConfig.from_env({"KDSAM_TEAM_STORAGE_QUOTA_GB": bad})


def test_an_upload_declaring_more_than_the_remaining_quota_is_refused_with_413_and_nothing_is_stored(trainer, team):
    from webapp.datasets.models import DatasetUpload

    _set_quota(team, 2048)
    assert _start_upload(trainer, team, 1024, "first.zip").status_code == 201  # reserves 1.0 KB
    before_files, before_sessions = media_files(), DatasetUpload.objects.count()

    response = _start_upload(trainer, team, 1025)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "team_quota_exceeded",
        "message": "Team Radiology has 1.0 KB left of its 2.0 KB storage quota (1.0 KB used): "
        f"scans.zip (1.0 KB) does not fit. {HINT}",
        "field": "size",
    }
    assert media_files() == before_files and DatasetUpload.objects.count() == before_sessions
    assert _start_upload(trainer, team, 1024).status_code == 201  # exactly what is left fits


def test_an_upload_that_fits_in_the_quota_is_accepted_and_imported(trainer, team):
    files = generic_files(2)
    _set_quota(team, 4 * len(zip_bytes(files)))
    dataset_id = _import(trainer, team, files)
    usage = _storage(trainer, team)
    assert usage["used_bytes"] == _disk_bytes(_dataset_files(dataset_id)) <= usage["quota_bytes"]


def test_an_import_that_expands_past_the_quota_fails_and_keeps_nothing(trainer, team):
    from webapp.datasets.models import Dataset, DatasetItem

    seed = _fresh()
    files = {}
    for i in range(3):
        files[f"data/images/case{i}.bmp"] = _bmp(seed + i)  # 270 KB each, stored as they are
        files[f"data/masks/case{i}.png"] = mask_png(300, 300, seed=seed + i)
    content = zip_bytes(files, deflate=True)
    assert len(content) < 30_000
    _set_quota(team, len(content) + 10_000)  # room for the archive, not for what it expands to
    before = media_files()

    upload_id, response = upload(trainer, team.pk, content, "scans.zip", name="scans")
    assert response.json()["state"] == "awaiting_confirmation"
    response = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json")
    assert response.status_code == 200
    session = response.json()
    assert session["state"] == "failed"
    assert session["error"].startswith("The import was rolled back: Team Radiology has ")
    assert "storage quota" in session["error"] and "the import of scans" in session["error"]
    assert "does not fit" in session["error"] and HINT in session["error"]
    assert not Dataset.objects.exists() and not DatasetItem.objects.exists()
    assert media_files() == before  # no object, no staged archive, no extraction folder
    assert _storage(trainer, team)["used_bytes"] == 0


def test_confirming_an_import_once_the_quota_is_used_up_is_refused_and_the_session_waits(trainer, team):
    from webapp.datasets.models import Dataset, DatasetUpload

    _import(trainer, team, generic_files(2), name="existing")
    upload_id, _ = upload(trainer, team.pk, zip_bytes(generic_files(2)), name="more")
    _set_quota(team, _storage(trainer, team)["used_bytes"] - _storage(trainer, team)["uploads_bytes"])

    response = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "team_quota_exceeded" and "importing more" in error["message"]
    assert error["message"].startswith("Team Radiology has 0 B left of its ") and HINT in error["message"]
    assert DatasetUpload.objects.get(pk=upload_id).state == "awaiting_confirmation"
    assert Dataset.objects.count() == 1


def test_an_image_upload_over_the_quota_is_refused_with_413_and_nothing_is_stored(team_clinician, team):
    from webapp.segmentation.models import Image

    _set_quota(team, 1000)
    before = _image_files()
    response = _upload_image(team_clinician, "scan.png", png(64, 64, seed=_fresh(), mode="RGB"))
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("team_quota_exceeded", "file")
    assert error["message"].startswith(
        "Team Radiology has 1000 B left of its 1000 B storage quota (0 B used): scan.png ("
    )
    assert error["message"].endswith(f"KB) does not fit. {HINT}")
    assert not Image.objects.exists() and _image_files() == before


def test_an_image_upload_within_the_quota_is_accepted(team_clinician, team):
    from webapp.segmentation.models import Image

    _set_quota(team, 1024**2)
    response = _upload_image(team_clinician, "scan.png", png(64, 64, seed=_fresh(), mode="RGB"))
    assert response.status_code == 201, response.content
    image = Image.objects.get(pk=response.json()["id"])
    assert _storage(team_clinician, team)["images_bytes"] == _disk_bytes([image.file.name])


def test_an_image_must_fit_in_every_team_of_its_uploader(team_clinician, team):
    from webapp.accounts.models import Team
    from webapp.accounts.services import add_member
    from webapp.segmentation.models import Image

    full = Team.objects.create(name="Full", storage_quota_gb=10 / GIB)
    add_member(full, team_clinician.user, "clinician")
    response = _upload_image(team_clinician, "scan.png", png(64, 64, seed=_fresh(), mode="RGB"))
    assert response.status_code == 413
    assert response.json()["error"]["message"].startswith("Team Full has 10 B left")
    assert not Image.objects.exists()


def test_the_admin_edits_a_teams_quota_and_shows_its_usage(django_user_model, team):
    from rest_framework.test import APIClient

    admin = django_user_model.objects.create_superuser("root", password=None)
    client = APIClient()
    client.force_login(admin)
    page = client.get(f"/admin/accounts/team/{team.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="storage_quota_gb"' in text and "Storage used" in text and "(deployment default)" in text
    response = client.post(f"/admin/accounts/team/{team.pk}/change/", _admin_form(team, "0.5"))
    assert response.status_code == 302, response.content
    team.refresh_from_db()
    assert team.storage_quota_gb == 0.5
    assert b"Radiology" in client.get("/admin/accounts/team/").content


def _admin_form(team, quota: str) -> dict:
    return {
        "name": team.name,
        "storage_quota_gb": quota,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
