"""Evaluation results belong to the team that ran them; jobs never change a deployment-wide model version."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import onnxruntime as ort
import pytest
from django.conf import settings
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from tests.web.jobs_fixtures import make_dataset, make_team, make_tiny_model_version
from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def users(django_user_model):
    names = ("trainer-a", "clinician-a", "trainer-b", "loner")
    return {name: django_user_model.objects.create_user(name, password=None) for name in names}


@pytest.fixture
def team_a(users):
    return make_team("Team A", {users["trainer-a"]: "trainer", users["clinician-a"]: "clinician"})


@pytest.fixture
def team_b(users):
    return make_team("Team B", {users["trainer-b"]: "trainer"})


@pytest.fixture
def shared_version(db):
    """A deployment-wide published version, readable by every signed-in user."""
    return make_tiny_model_version(team=None)


def evaluate(user, team, dataset, version) -> Job:
    response = _client(user).post(
        "/api/jobs/",
        {"team": team.pk, "kind": "evaluate", "params": {"dataset": dataset.pk, "model_versions": [version.pk]}},
        format="json",
    )
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])  # eager Celery: already ran
    assert job.state == Job.State.SUCCEEDED, job.error
    return job


def model_views(client, version_id: int) -> dict[str, str]:
    """Everything the model-version API answers this user about the version (detail, lists, active)."""
    views = {}
    for url in (f"/api/models/{version_id}/", "/api/models/", "/api/models/?all=1"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content)
        views[url] = response.content.decode()
    return views


def dice_of(job: Job, version) -> float:
    (by_model,) = job.result["summary"].values()
    return by_model[f"{version.name} (v{version.pk})"]["dice"]["mean"]


def test_users_outside_the_team_see_nothing_of_its_evaluation_of_a_deployment_wide_version(
    users, team_a, team_b, shared_version
):
    dataset = make_dataset(team_a, Path(settings.MEDIA_ROOT), name="secret-cohort-a")
    outsiders = {name: _client(users[name]) for name in ("loner", "trainer-b")}
    before = {name: model_views(client, shared_version.pk) for name, client in outsiders.items()}
    row_before = model_to_dict(shared_version)

    evaluate(users["trainer-a"], team_a, dataset, shared_version)

    for name, client in outsiders.items():
        after = model_views(client, shared_version.pk)
        assert after == before[name], name  # not the dataset's name, not its Dice, nothing changed
        assert "secret-cohort-a" not in "".join(after.values())
    shared_version.refresh_from_db()
    assert model_to_dict(shared_version) == row_before


def test_two_teams_with_same_named_datasets_evaluating_one_version_both_keep_their_results(
    users, team_a, team_b, shared_version
):
    media = Path(settings.MEDIA_ROOT)
    dataset_a, dataset_b = make_dataset(team_a, media, name="polyps"), make_dataset(team_b, media, name="polyps")
    job_a = evaluate(users["trainer-a"], team_a, dataset_a, shared_version)
    job_b = evaluate(users["trainer-b"], team_b, dataset_b, shared_version)

    for user, team, dataset, job in (("trainer-a", team_a, dataset_a, job_a), ("trainer-b", team_b, dataset_b, job_b)):
        evaluations = _client(users[user]).get(f"/api/models/{shared_version.pk}/").json()["evaluations"]
        assert [(e["team"], e["dataset"], e["job"]) for e in evaluations] == [(team.pk, dataset.pk, job.pk)], user
        assert evaluations[0]["metrics"]["dice"]["mean"] == dice_of(job, shared_version)


def test_every_member_of_the_team_sees_its_evaluations_with_dataset_name_split_and_dice(users, team_a, shared_version):
    dataset = make_dataset(team_a, Path(settings.MEDIA_ROOT), name="polyps")
    job = evaluate(users["trainer-a"], team_a, dataset, shared_version)

    for user in ("trainer-a", "clinician-a"):
        (evaluation,) = _client(users[user]).get(f"/api/models/{shared_version.pk}/").json()["evaluations"]
        assert evaluation["dataset"] == dataset.pk and evaluation["dataset_name"] == "polyps", user
        assert evaluation["split"] == "test" and evaluation["protocol"]["mode"] == "box"
        assert evaluation["metrics"]["dice"]["mean"] == dice_of(job, shared_version)
        assert evaluation["metrics"]["dice"]["n"] == 1


def _files_of(version) -> dict[str, str]:
    folder = Path(version.checkpoint.path).parent
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_export_job_quantizing_a_deployment_wide_version_leaves_it_unchanged_and_registers_a_team_version(
    users, team_a, shared_version
):
    files_before, row_before = _files_of(shared_version), model_to_dict(shared_version)
    trainer, loner = _client(users["trainer-a"]), _client(users["loner"])

    response = trainer.post(
        "/api/jobs/",
        {"team": team_a.pk, "kind": "export", "params": {"model_version": shared_version.pk, "quantize": True}},
        format="json",
    )
    job = Job.objects.get(pk=response.json()["id"])
    assert job.state == Job.State.SUCCEEDED, job.error

    shared_version.refresh_from_db()
    assert model_to_dict(shared_version) == row_before and _files_of(shared_version) == files_before
    assert trainer.get(f"/models/{shared_version.pk}/decoder_int8.onnx").status_code == 404
    derived = job.model_versions.get()
    assert (derived.team, derived.parent, derived.state) == (team_a, shared_version, "draft")
    assert derived.decoder_sha256 == shared_version.decoder_sha256
    assert derived.checkpoint_sha256 == shared_version.checkpoint_sha256
    assert job.result["model_version"] == derived.pk
    ort.InferenceSession(derived.decoder_onnx_quantized.path)
    assert trainer.get(f"/models/{derived.pk}/decoder_int8.onnx").status_code == 200
    assert loner.get(f"/models/{derived.pk}/decoder_int8.onnx").status_code == 404


def test_existing_evaluation_metrics_move_to_the_team_that_ran_them(users, team_a, shared_version):
    from webapp.registry.models import Evaluation

    dataset = make_dataset(team_a, Path(settings.MEDIA_ROOT), name="polyps")
    stats = {"dice": {"n": 1, "mean": 0.5}, "iou": {"n": 1, "mean": 0.4}}
    label = f"{shared_version.name} (v{shared_version.pk})"
    job = Job.objects.create(
        kind="evaluate",
        team=team_a,
        owner=users["trainer-a"],
        state=Job.State.SUCCEEDED,
        params={"dataset": dataset.pk, "model_versions": [shared_version.pk], "split": "test"},
        result={"summary": {"polyps": {label: stats}}, "protocol": {"mode": "box"}},
    )
    distillation = {"best_val_loss": 0.1, "best_epoch": 3}
    shared_version.metrics = {"polyps": {"split": "test", **stats}, "distillation": distillation}
    shared_version.save(update_fields=["metrics"])

    migration = importlib.import_module("webapp.registry.migrations.0003_evaluation")
    migration.move_evaluation_metrics(django_apps(), None)

    shared_version.refresh_from_db()
    assert shared_version.metrics == {"distillation": distillation}
    evaluation = Evaluation.objects.get(model_version=shared_version)
    assert (evaluation.team, evaluation.dataset, evaluation.job) == (team_a, dataset, job)
    assert evaluation.split == "test" and evaluation.metrics == stats


def django_apps():
    from django.apps import apps

    return apps


def test_a_fine_tuning_jobs_validation_result_is_its_teams_evaluation_not_a_field_of_the_new_version(users, team_a):
    dataset = make_dataset(team_a, Path(settings.MEDIA_ROOT), name="polyps")
    base = make_tiny_model_version(team_a)
    response = _client(users["trainer-a"]).post(
        "/api/jobs/",
        {
            "team": team_a.pk,
            "kind": "finetune",
            "params": {"dataset": dataset.pk, "model_version": base.pk, "epochs": 1, "batch_size": 2},
        },
        format="json",
    )
    job = Job.objects.get(pk=response.json()["id"])
    assert job.state == Job.State.SUCCEEDED, job.error
    version = job.model_versions.get()
    assert "polyps" not in version.metrics
    (evaluation,) = _client(users["trainer-a"]).get(f"/api/models/{version.pk}/").json()["evaluations"]
    assert (evaluation["dataset"], evaluation["split"], evaluation["job"]) == (dataset.pk, "val", job.pk)
    assert evaluation["metrics"]["dice"]["mean"] == job.result["evaluation"]["dice"]["mean"]


def test_a_second_export_of_a_teams_version_keeps_its_int8_decoder_file(users, team_a):
    version = make_tiny_model_version(team_a)
    trainer = _client(users["trainer-a"])
    body = {"team": team_a.pk, "kind": "export", "params": {"model_version": version.pk, "quantize": True}}
    first = Job.objects.get(pk=trainer.post("/api/jobs/", body, format="json").json()["id"])
    assert first.state == Job.State.SUCCEEDED, first.error
    version.refresh_from_db()
    int8 = Path(version.decoder_onnx_quantized.path)
    written = (int8.stat().st_mtime_ns, hashlib.sha256(int8.read_bytes()).hexdigest())

    second = Job.objects.get(pk=trainer.post("/api/jobs/", body, format="json").json()["id"])

    assert second.state == Job.State.SUCCEEDED, second.error
    assert (int8.stat().st_mtime_ns, hashlib.sha256(int8.read_bytes()).hexdigest()) == written
    assert second.result["model_version"] == version.pk and not second.model_versions.exists()
