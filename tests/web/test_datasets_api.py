"""Datasets API: upload session (chunked upload → validation report → confirm → import) → dataset → browse → delete."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.web.datasets_support import (
    FIXTURE_DATASETS,
    generic_files,
    media_files,
    png,
    upload,
    zip_bytes,
)

pytestmark = pytest.mark.django_db


def _ready(client, team, content, **confirm):
    """Upload, confirm and import; returns the new dataset's id."""
    upload_id, response = upload(client, team.pk, content)
    assert response.json()["state"] == "awaiting_confirmation", response.json()
    response = client.post(f"/api/datasets/uploads/{upload_id}/confirm/", confirm, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "imported", response.json()
    return response.json()["dataset"]


def test_upload_in_chunks_report_confirm_browse_and_delete(trainer, team):
    from webapp.datasets.models import Dataset
    from webapp.datasets.selectors import dataset_samples

    before = media_files()
    files = generic_files(6)
    files["data/images/lonely.png"] = png(seed=99, width=17)  # image without mask
    content = zip_bytes(files)
    created = trainer.post(
        "/api/datasets/uploads/",
        {
            "team": team.pk,
            "name": "polyps",
            "filename": "polyps.zip",
            "size": len(content),
            "seed": 3,
            "description": "CVC polyps",
        },
        format="json",
    ).json()
    assert created["state"] == "uploading" and created["upload_received"] == 0 and created["dataset"] is None
    assert not Dataset.objects.exists()  # an upload session is not a dataset
    url = created["upload_url"]
    half = len(content) // 2
    assert (
        trainer.put(f"{url}?offset=0", content[:half], content_type="application/octet-stream").json()[
            "upload_received"
        ]
        == half
    )
    wrong = trainer.put(f"{url}?offset=0", content[half:], content_type="application/octet-stream")
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "wrong_offset"
    status = trainer.put(f"{url}?offset={half}", content[half:], content_type="application/octet-stream").json()
    assert status["state"] == "awaiting_confirmation"  # validation ran (eager Celery)
    assert status["progress"]["done"] == status["progress"]["total"] == 7

    report = trainer.get(created["report_url"]).json()
    assert report["report"]["format"] == "generic" and report["report"]["pairs"] == 6
    assert report["report"]["source"] == "polyps.zip"
    [problem] = report["report"]["problems"]
    assert problem["code"] == "image_without_mask" and problem["path"].endswith("images/lonely.png")
    assert [c["code"] for c in report["choices"]] == ["image_without_mask"]

    assert not Dataset.objects.exists()  # validated, still no dataset
    confirmed = trainer.post(
        f"/api/datasets/uploads/{created['id']}/confirm/", {"skip": ["image_without_mask"]}, format="json"
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["state"] == "imported"
    dataset_id = confirmed.json()["dataset"]
    assert confirmed.json()["dataset_url"] == f"/api/datasets/{dataset_id}/"
    detail = trainer.get(f"/api/datasets/{dataset_id}/").json()
    assert detail["upload"] == created["id"] and detail["description"] == "CVC polyps" and detail["name"] == "polyps"
    assert trainer.get(f"/api/datasets/{dataset_id}/report/").json()["report"]["pairs"] == 6
    assert detail["state"] == "ready" and detail["counts"]["items"] == 6 and detail["counts"]["unlabelled"] == 0
    assert sum(detail["counts"]["splits"].values()) == 6 and detail["split_seed"] == 3
    assert detail["split_ratios"] == {"train": 0.8, "val": 0.1, "test": 0.1}

    page = trainer.get(f"/api/datasets/{dataset_id}/items/?page_size=4").json()
    assert page["count"] == 6 and len(page["results"]) == 4
    item = page["results"][0]
    assert item["item_id"] == "case0" and (item["width"], item["height"]) == (16, 12)
    thumb = trainer.get(item["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    overlay = trainer.get(item["mask_thumbnail_url"])
    assert overlay.status_code == 200
    with Image.open(__import__("io").BytesIO(b"".join(overlay.streaming_content))) as im:
        assert im.mode == "RGBA" and im.size == (16, 12)
    mask = trainer.get(item["mask_url"])
    assert mask.status_code == 200 and mask["Content-Type"] == "image/png"
    train = trainer.get(f"/api/datasets/{dataset_id}/items/?split=train").json()
    assert train["count"] == detail["counts"]["splits"]["train"]

    dataset = Dataset.objects.get(pk=dataset_id)
    samples = dataset_samples(dataset)
    image_path, mask_path, item_id, label = samples[0]
    assert image_path.is_file() and mask_path.is_file() and item_id == "case0" and label is None
    assert len(dataset_samples(dataset, "train")) == detail["counts"]["splits"]["train"]
    assert not (set(media_files()) - before - {f for f in media_files() if f.startswith(("objects/", "thumbs/"))})

    assert trainer.delete(f"/api/datasets/{dataset_id}/").status_code == 204
    assert media_files() == before
    assert not Dataset.objects.exists()
    assert (
        trainer.get(f"/api/datasets/uploads/{created['id']}/").json()["dataset"] is None
    )  # the session stays as history


def test_split_is_deterministic_and_grouped_by_subject(staff, team):
    from webapp.datasets.models import DatasetItem

    response = staff.post(
        "/api/datasets/import-folder/",
        {"team": team.pk, "name": "hc18", "path": str(FIXTURE_DATASETS / "hc18"), "seed": 1},
        format="json",
    )
    assert response.status_code == 201, response.content
    upload_id = response.json()["id"]
    assert staff.get(f"/api/datasets/uploads/{upload_id}/status/").json()["state"] == "awaiting_confirmation"
    dataset_id = staff.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json").json()["dataset"]
    items = {i.item_id: i for i in DatasetItem.objects.filter(dataset_id=dataset_id)}
    assert items["779_HC"].split == items["779_2HC"].split and items["779_HC"].split_group == "779"
    assert (FIXTURE_DATASETS / "hc18" / "training_set" / "779_HC.png").exists()  # server folders are never touched

    from kdsam_core.datasets import assign_splits, open_dataset

    with open_dataset(FIXTURE_DATASETS / "hc18") as opened:
        expected = assign_splits(list(opened.samples()), 1, (0.8, 0.1, 0.1))
    assert {k: v.split for k, v in items.items()} == expected


def test_busi_classes_counted_and_folder_import_is_staff_only(staff, trainer, team):
    denied = trainer.post(
        "/api/datasets/import-folder/", {"team": team.pk, "path": str(FIXTURE_DATASETS / "busi")}, format="json"
    )
    assert denied.status_code == 403
    response = staff.post(
        "/api/datasets/import-folder/", {"team": team.pk, "path": str(FIXTURE_DATASETS / "busi")}, format="json"
    )
    upload_id = response.json()["id"]
    assert response.json()["name"] == "busi"
    dataset_id = staff.post(
        f"/api/datasets/uploads/{upload_id}/confirm/", {"ratios": {"train": 2, "val": 1, "test": 0}}, format="json"
    ).json()["dataset"]
    detail = staff.get(f"/api/datasets/{dataset_id}/").json()
    assert detail["format"] == "busi" and detail["counts"]["classes"] == {"benign": 2, "malignant": 1}
    assert detail["counts"]["splits"]["test"] == 0
    missing = staff.post("/api/datasets/import-folder/", {"team": team.pk, "path": "/nonexistent/ds"}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "source_not_found"


def test_team_visibility_and_roles(trainer, team_clinician, outsider, team):
    dataset_id = _ready(trainer, team, zip_bytes(generic_files(2)))
    # another team: 404 everywhere, and absent from its list
    assert outsider.get("/api/datasets/").json() == []
    for path in ("", "report/", "items/"):
        assert outsider.get(f"/api/datasets/{dataset_id}/{path}").status_code == 404
    assert outsider.delete(f"/api/datasets/{dataset_id}/").status_code == 404
    assert (
        outsider.post(
            "/api/datasets/uploads/", {"team": team.pk, "filename": "a.zip", "size": 10}, format="json"
        ).status_code
        == 404
    )
    item = trainer.get(f"/api/datasets/{dataset_id}/items/").json()["results"][0]
    assert outsider.get(item["thumbnail_url"]).status_code == 404
    # clinicians of the team read, but do not write
    assert [d["id"] for d in team_clinician.get("/api/datasets/").json()] == [dataset_id]
    assert team_clinician.get(item["image_url"]).status_code == 200
    assert team_clinician.delete(f"/api/datasets/{dataset_id}/").status_code == 403
    created = team_clinician.post(
        "/api/datasets/uploads/", {"team": team.pk, "filename": "a.zip", "size": 10}, format="json"
    )
    assert created.status_code == 403 and created.json()["error"]["code"] == "forbidden"


def test_identical_files_are_stored_once_and_kept_while_shared(trainer, team):
    from webapp.datasets.models import DatasetItem

    before = media_files()
    content = zip_bytes(generic_files(2))
    first = _ready(trainer, team, content)
    objects = media_files() - before
    second = _ready(trainer, team, content)
    assert media_files() - before == objects  # no new object: content-addressed
    assert (
        DatasetItem.objects.filter(dataset_id=first).count()
        == DatasetItem.objects.filter(dataset_id=second).count()
        == 2
    )
    assert set(DatasetItem.objects.filter(dataset_id=first).values_list("image_file", flat=True)) == set(
        DatasetItem.objects.filter(dataset_id=second).values_list("image_file", flat=True)
    )
    trainer.delete(f"/api/datasets/{first}/")
    assert media_files() - before == objects
    trainer.delete(f"/api/datasets/{second}/")
    assert media_files() == before


def test_confirm_choices_are_checked(trainer, team):
    files = generic_files(1)
    files["data/images/lonely.png"] = png(seed=7, width=18)
    upload_id, _ = upload(trainer, team.pk, zip_bytes(files))
    bad = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {"skip": ["size_mismatch"]}, format="json")
    assert bad.status_code == 400
    twice = trainer.post(
        f"/api/datasets/uploads/{upload_id}/confirm/",
        {"skip_samples": ["case0"], "skip": ["image_without_mask"]},
        format="json",
    )
    assert twice.status_code == 400 and twice.json()["error"]["code"] == "nothing_to_import"
    ok = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json").json()
    assert ok["state"] == "imported"
    assert trainer.get(ok["dataset_url"]).json()["counts"]["unlabelled"] == 1
    again = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json")
    assert again.status_code == 409


def test_management_command_imports_a_server_folder(team, django_user_model):
    from django.core.management import call_command

    from webapp.datasets.models import Dataset

    call_command("import_dataset", str(FIXTURE_DATASETS / "kvasir_seg"), "--team", team.name, "--name", "kvasir")
    dataset = Dataset.objects.get(name="kvasir")
    assert dataset.state == "ready" and dataset.format == "kvasir_seg" and dataset.counts["pairs"] == 2
    assert dataset.upload.state == "imported"


def test_management_command_dry_run_and_unimportable_folder_create_no_dataset(team, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from webapp.datasets.models import Dataset, DatasetUpload

    call_command("import_dataset", str(FIXTURE_DATASETS / "kvasir_seg"), "--team", team.name, "--dry-run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="not importable"):
        call_command("import_dataset", str(tmp_path / "empty"), "--team", team.name)
    assert not Dataset.objects.exists()
    assert sorted(DatasetUpload.objects.values_list("state", flat=True)) == ["cancelled", "failed"]


def test_studio_page_needs_login(client, trainer):
    assert client.get("/studio/").status_code == 302
    assert trainer.get("/studio/").status_code in (200, 503)


def test_folder_import_outside_the_configured_roots_is_refused(settings, django_user_model, tmp_path):
    from dataclasses import replace

    from rest_framework.test import APIClient

    from webapp.accounts.models import Team
    from webapp.accounts.services import add_member
    from webapp.datasets.models import Dataset, DatasetUpload

    staff_user = django_user_model.objects.create_user("root-staff", password="pw-long-enough-7", is_staff=True)
    team = Team.objects.create(name="roots")
    add_member(team, staff_user, "admin")
    settings.STUDIO = replace(settings.STUDIO, dataset_import_roots=(tmp_path / "allowed",))
    client = APIClient()
    client.force_login(staff_user)
    response = client.post(
        "/api/datasets/import-folder/", {"team": team.pk, "path": str(FIXTURE_DATASETS / "busi")}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "source_not_allowed"
    assert "KDSAM_DATASET_IMPORT_ROOTS" in response.json()["error"]["message"]
    assert not Dataset.objects.exists() and not DatasetUpload.objects.exists()


def test_a_successful_upload_creates_exactly_one_dataset_with_its_items(trainer, team):
    from webapp.datasets.models import Dataset, DatasetItem

    dataset_id = _ready(trainer, team, zip_bytes(generic_files(3)))
    assert list(Dataset.objects.values_list("pk", flat=True)) == [dataset_id]
    assert DatasetItem.objects.filter(dataset_id=dataset_id).count() == 3 == DatasetItem.objects.count()
    assert [d["id"] for d in trainer.get("/api/datasets/").json()] == [dataset_id]


def test_upload_sessions_are_visible_to_their_team_only(trainer, team_clinician, outsider, team):
    upload_id, _ = upload(trainer, team.pk, zip_bytes(generic_files(2)))
    for path in ("", "status/", "report/"):
        assert outsider.get(f"/api/datasets/uploads/{upload_id}/{path}").status_code == 404
    for path in ("confirm/", "cancel/"):
        assert outsider.post(f"/api/datasets/uploads/{upload_id}/{path}", {}, format="json").status_code == 404
    assert (
        outsider.put(
            f"/api/datasets/uploads/{upload_id}/upload/?offset=0", b"x", content_type="application/octet-stream"
        ).status_code
        == 404
    )
    assert outsider.delete(f"/api/datasets/uploads/{upload_id}/").status_code == 404
    assert outsider.get("/api/datasets/uploads/").json() == []
    # members of the team see it (any role); only trainers and admins act on it
    assert [u["id"] for u in team_clinician.get("/api/datasets/uploads/").json()] == [upload_id]
    assert team_clinician.get(f"/api/datasets/uploads/{upload_id}/report/").status_code == 200
    assert team_clinician.post(f"/api/datasets/uploads/{upload_id}/cancel/").status_code == 403
    assert team_clinician.post(f"/api/datasets/uploads/{upload_id}/confirm/", {}, format="json").status_code == 403


def test_settled_upload_sessions_can_be_forgotten_active_ones_not(trainer, team):
    from webapp.datasets.models import DatasetUpload

    upload_id, _ = upload(trainer, team.pk, zip_bytes(generic_files(2)))
    refused = trainer.delete(f"/api/datasets/uploads/{upload_id}/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "upload_active"
    assert trainer.post(f"/api/datasets/uploads/{upload_id}/cancel/").json()["state"] == "cancelled"
    assert trainer.delete(f"/api/datasets/uploads/{upload_id}/").status_code == 204
    assert not DatasetUpload.objects.exists()


def test_the_legacy_create_endpoint_starts_an_upload_session(trainer, team):
    from webapp.datasets.models import Dataset

    created = trainer.post("/api/datasets/", {"team": team.pk, "filename": "a.zip", "size": 10}, format="json")
    assert created.status_code == 201 and created.json()["state"] == "uploading"
    assert created.json()["upload_url"] == f"/api/datasets/uploads/{created.json()['id']}/upload/"
    assert not Dataset.objects.exists()
