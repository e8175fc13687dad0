"""Training jobs: submission checks, running, progress, cancellation, team isolation."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import onnxruntime as ort
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework.test import APIClient

from tests.web.jobs_fixtures import make_dataset, make_team, make_tiny_model_version
from webapp.jobs import services
from webapp.jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

TINY_FINETUNE = {"epochs": 2, "batch_size": 2, "box_jitter": 5}


@pytest.fixture
def trainer(django_user_model):
    return django_user_model.objects.create_user("trainer-a", password="pw-long-enough-1")


@pytest.fixture
def team(trainer):
    return make_team("Team A", {trainer: "trainer"})


@pytest.fixture
def dataset(team):
    return make_dataset(team, Path(settings.MEDIA_ROOT))


@pytest.fixture
def base_version(team):
    return make_tiny_model_version(team)


@pytest.fixture
def client_a(trainer):
    client = APIClient()
    client.force_login(trainer)
    return client


def submit(client, team, kind, params):
    return client.post("/api/jobs/", {"team": team.pk, "kind": kind, "params": params}, format="json")


def test_tiny_finetune_job_succeeds_and_registers_a_model_version_whose_onnx_loads(
    client_a, team, dataset, base_version
):
    response = submit(
        client_a, team, "finetune", {"dataset": dataset.pk, "model_version": base_version.pk, **TINY_FINETUNE}
    )
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])  # eager Celery: already ran
    assert job.state == Job.State.SUCCEEDED, job.error
    assert [entry["epoch"] for entry in job.history] == [1, 2]
    version = job.model_versions.get()
    assert version.parent == base_version and version.state == "draft" and version.team == team
    assert version.training_data["dataset"] == dataset.pk and version.training_data["items"] == 2
    session = ort.InferenceSession(version.decoder_onnx.path)
    assert next(i.name for i in session.get_inputs()) == "image_embeddings"
    body = client_a.get(f"/api/jobs/{job.pk}/").json()
    assert body["state"] == "succeeded" and body["model_versions"] == [version.pk]


def test_progress_events_arrive_over_the_websocket(trainer, team, dataset, base_version, monkeypatch):
    from webapp.kdsam_studio.asgi import application

    monkeypatch.setattr(services, "enqueue", lambda job: None)
    job = services.submit_job(
        trainer, team.pk, "finetune", {"dataset": dataset.pk, "model_version": base_version.pk, **TINY_FINETUNE}
    )

    async def scenario():
        communicator = WebsocketCommunicator(
            application, f"/ws/jobs/{job.pk}/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
        )
        communicator.scope["user"] = trainer
        connected, _ = await communicator.connect()
        assert connected
        await sync_to_async(services.run_job, thread_sensitive=False)(job.pk)
        messages = []
        while not await communicator.receive_nothing(timeout=0.5):
            messages.append(await communicator.receive_json_from())
        await communicator.disconnect()
        return messages

    messages = async_to_sync_run(scenario)
    kinds = [m["type"] for m in messages]
    assert "job.progress" in kinds
    states = [m["job"]["state"] for m in messages]
    assert states[0] == "running" and states[-1] == "succeeded"
    epochs = [m["event"]["epoch"] for m in messages if m["type"] == "job.progress" and m["event"]["kind"] == "epoch"]
    assert epochs == [1, 2]


def async_to_sync_run(coroutine_function):
    from asgiref.sync import async_to_sync

    return async_to_sync(coroutine_function)()


def test_cancelling_a_running_job_ends_it_cancelled_within_seconds(trainer, team, dataset, base_version, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda job: None)
    job = services.submit_job(
        trainer,
        team.pk,
        "finetune",
        {
            "dataset": dataset.pk,
            "model_version": base_version.pk,
            "epochs": 500,
            "batch_size": 1,
            "early_stopping_patience": 1000,
        },
    )
    runner = threading.Thread(target=services.run_job, args=(job.pk,))
    runner.start()
    deadline = time.monotonic() + 60
    while not Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).exclude(progress={}).exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    client = APIClient()
    client.force_login(trainer)
    cancelled_at = time.monotonic()
    assert client.post(f"/api/jobs/{job.pk}/cancel/").status_code == 200
    runner.join(timeout=30)
    assert not runner.is_alive()
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert time.monotonic() - cancelled_at < 10
    assert not job.model_versions.exists()


def test_cancelling_a_queued_job_ends_it_at_once(trainer, team, dataset, base_version, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda job: None)
    job = services.submit_job(trainer, team.pk, "finetune", {"dataset": dataset.pk, "model_version": base_version.pk})
    services.cancel_job(job)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    services.run_job(job.pk)  # a late delivery of the queued message does nothing
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.attempts == 0


def test_distill_job_without_teacher_weights_fails_at_submission_naming_the_file(client_a, team, dataset):
    response = submit(client_a, team, "distill", {"dataset": dataset.pk, "teacher": "vit_h"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "missing_weights" and error["field"] == "teacher"
    assert "sam_vit_h_4b8939.pth" in error["message"] and str(settings.STUDIO.weights_dir) in error["message"]
    assert not Job.objects.exists()


def test_invalid_parameter_is_rejected_naming_the_field(client_a, team, dataset, base_version):
    response = submit(client_a, team, "finetune", {"dataset": dataset.pk, "model_version": base_version.pk, "lr": -1})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "lr"
    assert "at least" in response.json()["error"]["message"]


def test_a_trainer_of_team_a_gets_404_on_every_job_dataset_and_model_of_team_b(
    client_a, django_user_model, base_version
):
    other = django_user_model.objects.create_user("trainer-b", password="pw-long-enough-2")
    team_b = make_team("Team B", {other: "trainer"})
    dataset_b = make_dataset(team_b, Path(settings.MEDIA_ROOT), name="b-data")
    version_b = make_tiny_model_version(team_b, state="draft")
    job_b = Job.objects.create(kind="export", team=team_b, owner=other, params={"model_version": version_b.pk})
    for url in (
        f"/api/jobs/{job_b.pk}/",
        f"/api/models/{version_b.pk}/",
        f"/models/{version_b.pk}/decoder.onnx",
        f"/api/datasets/{dataset_b.pk}/",
    ):
        assert client_a.get(url).status_code == 404, url
    for url in (
        f"/api/jobs/{job_b.pk}/cancel/",
        f"/api/jobs/{job_b.pk}/retry/",
        f"/api/models/{version_b.pk}/publish/",
    ):
        assert client_a.post(url).status_code == 404, url
    assert client_a.get("/api/jobs/").json() == []
    assert version_b.pk not in [v["id"] for v in client_a.get("/api/models/?all=1").json()]
    response = client_a.post(
        "/api/jobs/", {"team": team_b.pk, "kind": "export", "params": {"model_version": version_b.pk}}, format="json"
    )
    assert response.status_code == 404


def test_a_clinician_cannot_submit_jobs(django_user_model, team, base_version):
    clinician = django_user_model.objects.create_user("clin", password="pw-long-enough-3")
    from webapp.accounts.services import add_member

    add_member(team, clinician, "clinician")
    client = APIClient()
    client.force_login(clinician)
    response = client.post(
        "/api/jobs/", {"team": team.pk, "kind": "export", "params": {"model_version": base_version.pk}}, format="json"
    )
    assert response.status_code == 403


def test_queue_position_counts_higher_priority_and_older_jobs_first(trainer, team, base_version, monkeypatch):
    from webapp.jobs.selectors import queue_position

    monkeypatch.setattr(services, "enqueue", lambda job: None)
    params = {"model_version": base_version.pk}
    first = services.submit_job(trainer, team.pk, "export", params)
    second = services.submit_job(trainer, team.pk, "export", params)
    urgent = services.submit_job(trainer, team.pk, "export", params, priority=5)
    assert [queue_position(j) for j in (urgent, first, second)] == [1, 2, 3]


def test_export_job_writes_an_int8_decoder_that_loads(client_a, team, base_version):
    response = submit(client_a, team, "export", {"model_version": base_version.pk, "quantize": True})
    job = Job.objects.get(pk=response.json()["id"])
    assert job.state == Job.State.SUCCEEDED, job.error
    base_version.refresh_from_db()
    ort.InferenceSession(base_version.decoder_onnx_quantized.path)
    assert client_a.get(f"/models/{base_version.pk}/decoder_int8.onnx").status_code == 200


def test_heartbeat_thread_refreshes_a_running_jobs_heartbeat(trainer, team, base_version):
    job = Job.objects.create(
        kind="export", team=team, owner=trainer, params={"model_version": base_version.pk}, state=Job.State.RUNNING
    )
    beat = services.Heartbeat(job.pk, interval=0.05)
    beat.start()
    time.sleep(0.5)
    beat.stop()
    job.refresh_from_db()
    assert job.heartbeat_at is not None


def test_a_starting_worker_requeues_its_own_and_stale_running_jobs_but_not_live_ones(
    trainer, team, base_version, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    queued = []
    monkeypatch.setattr(services, "enqueue", lambda job: queued.append(job.pk))
    now = timezone.now()

    def running(worker, heartbeat):
        return Job.objects.create(
            kind="export",
            team=team,
            owner=trainer,
            params={"model_version": base_version.pk},
            state=Job.State.RUNNING,
            worker_host=worker,
            heartbeat_at=heartbeat,
            attempts=1,
        )

    own = running("celery@me", now)
    stale = running("celery@elsewhere", now - timedelta(minutes=10))
    live = running("celery@elsewhere", now)
    assert sorted(services.recover_orphaned_jobs("celery@me")) == sorted([own.pk, stale.pk])
    assert sorted(queued) == sorted([own.pk, stale.pk])
    live.refresh_from_db()
    own.refresh_from_db()
    assert live.state == Job.State.RUNNING and own.state == Job.State.QUEUED


def test_a_dataset_used_by_a_queued_job_cannot_be_deleted(client_a, trainer, team, dataset, base_version, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda job: None)
    job = services.submit_job(trainer, team.pk, "finetune", {"dataset": dataset.pk, "model_version": base_version.pk})
    response = client_a.delete(f"/api/datasets/{dataset.pk}/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "dataset_in_use" and str(job.pk) in response.json()["error"]["message"]
    services.cancel_job(job)
    assert client_a.delete(f"/api/datasets/{dataset.pk}/").status_code == 204


def test_a_job_cancelled_before_its_first_epoch_can_be_retried_and_succeeds(
    trainer, team, dataset, base_version, monkeypatch
):
    from webapp.jobs.progress import JobCancelled, JobProgressReporter

    monkeypatch.setattr(services, "enqueue", lambda job: None)
    job = services.submit_job(
        trainer, team.pk, "finetune", {"dataset": dataset.pk, "model_version": base_version.pk, **TINY_FINETUNE}
    )

    def cancelled_at_first_event(self, event):
        raise JobCancelled("cancelled while the embeddings were being cached")

    with monkeypatch.context() as patch:
        patch.setattr(JobProgressReporter, "__call__", cancelled_at_first_event)
        services.run_job(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.attempts == 1
    services.retry_job(job)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.attempts == 2 and [entry["epoch"] for entry in job.history] == [1, 2]
    assert any("exporting the decoder" in line for line in job.log_tail.splitlines()), job.log_tail


class WorkerKilled(BaseException):
    """Stands in for a SIGKILL: not an ``Exception``, so nothing in the worker catches it."""


def test_a_worker_killed_between_a_checkpoint_and_its_progress_write_resumes_with_every_epoch_in_the_history(
    trainer, team, dataset, base_version, monkeypatch
):
    from webapp.jobs.progress import JobProgressReporter

    monkeypatch.setattr(services, "enqueue", lambda job: None)
    job = services.submit_job(
        trainer, team.pk, "finetune", {"dataset": dataset.pk, "model_version": base_version.pk, **TINY_FINETUNE}
    )
    report = JobProgressReporter.__call__

    def killed_at_the_first_epoch_event(self, event):
        if event.kind == "epoch":  # epoch 1's last.pt is on disk, its history entry not yet in the database
            raise WorkerKilled
        report(self, event)

    with monkeypatch.context() as patch, pytest.raises(WorkerKilled):
        patch.setattr(JobProgressReporter, "__call__", killed_at_the_first_epoch_event)
        services.run_job(job.pk, worker="killed@host")
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.history == []
    assert services.recover_orphaned_jobs("killed@host") == [job.pk]
    services.run_job(job.pk, worker="replacement@host")
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert [entry["epoch"] for entry in job.history] == [1, 2]
    assert "train_loss" in job.history[0]
