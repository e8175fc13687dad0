"""Model registry: official checkpoint imports, publishing, the model picker list."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from kdsam_core.hashing import file_sha256
from kdsam_core.modeling import registry
from kdsam_core.modeling.teachers import save_teacher_state
from kdsam_core.modeling.tiny import build_tiny_teacher_sam
from tests.web.jobs_fixtures import make_dataset, make_team, make_tiny_model_version
from webapp.jobs.models import Job
from webapp.registry import services
from webapp.registry.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_teacher_file(tmp_path) -> Path:
    return save_teacher_state(build_tiny_teacher_sam(256, seed=0), tmp_path / "tiny_teacher.pth")


def test_import_checkpoint_verifies_the_file_and_records_its_sha256(tiny_teacher_file):
    call_command("import_checkpoint", str(tiny_teacher_file), "--kind", "tiny")
    version = ModelVersion.objects.get(architecture="tiny_teacher")
    assert version.checkpoint_sha256 == file_sha256(tiny_teacher_file)
    assert version.state == "published" and version.team is None and version.teacher == "tiny"
    assert Path(version.checkpoint.path).read_bytes() == tiny_teacher_file.read_bytes()


def test_import_of_a_wrong_file_names_the_file_and_the_mismatching_keys(tiny_teacher_file, tmp_path):
    state = torch.load(tiny_teacher_file, weights_only=True)
    state.pop("mask_decoder.iou_token.weight")
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(CommandError, match=r"broken\.pth.*mask_decoder\.iou_token\.weight"):
        call_command("import_checkpoint", str(broken), "--kind", "tiny")
    assert not ModelVersion.objects.filter(architecture="tiny_teacher").exists()


def test_imported_teacher_makes_a_distill_job_run_and_register_a_draft_student(django_user_model, tiny_teacher_file):
    call_command("import_checkpoint", str(tiny_teacher_file), "--kind", "tiny")
    trainer = django_user_model.objects.create_user("distiller", password="pw-long-enough-4")
    team = make_team("Distillers", {trainer: "trainer"})
    dataset = make_dataset(team, Path(settings.MEDIA_ROOT))
    client = APIClient()
    client.force_login(trainer)
    response = client.post(
        "/api/jobs/",
        {
            "team": team.pk,
            "kind": "distill",
            "params": {"dataset": dataset.pk, "teacher": "tiny", "epochs": 2, "batch_size": 2},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.state == "succeeded", job.error
    student = job.model_versions.get()
    assert student.architecture == "kdsam" and student.state == "draft" and student.teacher == "tiny"
    assert [entry["epoch"] for entry in job.history] == [1, 2]


def test_model_list_shows_published_versions_and_drafts_only_to_trainers_of_their_team(django_user_model):
    trainer = django_user_model.objects.create_user("t", password="pw-long-enough-5")
    clinician = django_user_model.objects.create_user("c", password="pw-long-enough-6")
    team = make_team("Lab", {trainer: "trainer", clinician: "clinician"})
    draft = make_tiny_model_version(team, state="draft")
    published = make_tiny_model_version(team, state="published")
    as_trainer, as_clinician = APIClient(), APIClient()
    as_trainer.force_login(trainer)
    as_clinician.force_login(clinician)
    assert published.pk in [v["id"] for v in as_clinician.get("/api/models/").json()]
    assert draft.pk not in [v["id"] for v in as_clinician.get("/api/models/?all=1").json()]
    assert draft.pk in [v["id"] for v in as_trainer.get("/api/models/?all=1").json()]
    assert as_clinician.post(f"/api/models/{published.pk}/archive/").status_code == 403
    assert as_trainer.post(f"/api/models/{draft.pk}/publish/").json()["state"] == "published"
    assert draft.pk in [v["id"] for v in as_clinician.get("/api/models/").json()]


def test_architecture_choices_are_the_student_and_the_registry_teachers():
    field = ModelVersion._meta.get_field("architecture")
    assert field.choices == registry.architecture_choices()
    # the migrations record these values and labels: a change here needs a migration
    assert field.choices == [
        ("kdsam", "KD-SAM (ResNet-50 student)"),
        ("sam_vit_h", "SAM ViT-H"),
        ("sam_vit_l", "SAM ViT-L"),
        ("sam_vit_b", "SAM ViT-B"),
        ("mobilesam", "MobileSAM (TinyViT)"),
        ("tiny_teacher", "tiny test ViT"),
    ]
    assert ModelVersion.Architecture.SAM_VIT_H == "sam_vit_h" and ModelVersion.Architecture.KDSAM == "kdsam"
    assert services.ARCHITECTURE_OF_TEACHER["vit_t"] == ModelVersion.Architecture.MOBILESAM
    assert services.ARCHITECTURE_OF_TEACHER["tiny"] == ModelVersion.Architecture.TINY_TEACHER
    assert list(services.ARCHITECTURE_OF_TEACHER) == list(registry.TEACHERS)


@pytest.mark.parametrize("teacher", registry.OFFICIAL_TEACHERS, ids=lambda t: t.kind)
def test_a_missing_teacher_names_its_official_file(settings, tmp_path, teacher):
    settings.STUDIO = type(settings.STUDIO)(**{**settings.STUDIO.__dict__, "weights_dir": tmp_path})
    with pytest.raises(services.MissingWeights) as error:
        services.teacher_checkpoint(teacher.kind)
    assert teacher.checkpoint in str(error.value) and str(tmp_path) in str(error.value)
    (tmp_path / teacher.checkpoint).write_bytes(b"weights")
    assert services.teacher_checkpoint(teacher.kind) == tmp_path / teacher.checkpoint
