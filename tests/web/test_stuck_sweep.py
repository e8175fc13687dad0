"""Work whose task was lost is queued again by the periodic sweep (webapp/kdsam_studio/stuck_tasks.py).

An image ``queued``/``embedding`` or a dataset upload ``validating``/``importing`` is pending. Its task is live
while its message waits in the broker or a worker runs it (the worker's heartbeat keeps ``updated_at`` fresh);
a pending row with neither for ``KDSAM_STUCK_TASK_SECONDS`` lost its task (killed worker, restarted Redis).
"""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.utils import timezone

from tests.web.images_support import image_row
from webapp.kdsam_studio import stuck_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_tasks(monkeypatch):
    """What the services send to the broker: ``(task name, args)`` per message, each with a new task id."""
    from worker.dataset_tasks import import_dataset, validate_dataset
    from worker.tasks import embed_image

    sent: list[tuple[str, list]] = []
    for task in (embed_image, validate_dataset, import_dataset):

        def apply_async(args=None, kwargs=None, task=task, **options):
            sent.append((task.name, list(args or [])))
            return SimpleNamespace(id=f"task-{len(sent)}")

        monkeypatch.setattr(task, "apply_async", apply_async)
    return sent


def make_image(owner, status: str, *, idle: timedelta, task_id: str = "lost-task"):
    from webapp.segmentation.models import Image

    image = image_row(owner, status=status, task_id=task_id)
    Image.objects.filter(pk=image.pk).update(updated_at=timezone.now() - idle)
    image.refresh_from_db()
    return image


def make_upload(team, state: str, *, idle: timedelta, task_id: str = "lost-task"):
    from webapp.datasets.models import DatasetUpload

    upload = DatasetUpload.objects.create(team=team, name="polyps", state=state, task_id=task_id)
    DatasetUpload.objects.filter(pk=upload.pk).update(updated_at=timezone.now() - idle)
    upload.refresh_from_db()
    return upload


def long_ago() -> timedelta:
    return timedelta(seconds=settings.STUDIO.stuck_task_seconds + 60)


def just_now() -> timedelta:
    return timedelta(seconds=1)


def test_an_image_left_embedding_by_a_dead_worker_is_queued_again(clinician, queued_tasks):
    image = make_image(clinician, "embedding", idle=long_ago())

    counts = stuck_tasks.sweep(waiting=set())

    image.refresh_from_db()
    assert counts["images"] == 1
    assert queued_tasks == [("worker.tasks.embed_image", [image.pk])]
    assert image.status == "queued" and image.task_id == "task-1"


def test_a_queued_image_whose_message_was_lost_with_redis_is_queued_again(clinician, queued_tasks):
    image = make_image(clinician, "queued", idle=long_ago())

    stuck_tasks.sweep(waiting=set())

    image.refresh_from_db()
    assert queued_tasks == [("worker.tasks.embed_image", [image.pk])]
    assert image.task_id == "task-1"


def test_a_queued_image_whose_message_still_waits_in_the_broker_is_left_alone(clinician, queued_tasks):
    image = make_image(clinician, "queued", idle=long_ago(), task_id="waiting-task")

    counts = stuck_tasks.sweep(waiting={"waiting-task"})

    image.refresh_from_db()
    assert counts["images"] == 0 and queued_tasks == []
    assert image.task_id == "waiting-task"


def test_an_image_a_live_worker_is_embedding_is_left_alone(clinician, queued_tasks):
    image = make_image(clinician, "embedding", idle=just_now())

    stuck_tasks.sweep(waiting=set())

    assert queued_tasks == []
    image.refresh_from_db()
    assert image.status == "embedding"


def test_ready_and_failed_images_are_never_queued_again(clinician, queued_tasks):
    make_image(clinician, "ready", idle=long_ago())
    make_image(clinician, "failed", idle=long_ago())

    stuck_tasks.sweep(waiting=set())

    assert queued_tasks == []


def test_two_sweeps_that_saw_the_same_stuck_image_queue_it_once(clinician, queued_tasks):
    from webapp.segmentation.services import requeue_embedding

    image = make_image(clinician, "embedding", idle=long_ago())
    seen = image.updated_at  # both sweeps (two workers, two hosts) read the row before either wrote

    assert requeue_embedding(image.pk, seen) is True
    assert requeue_embedding(image.pk, seen) is False
    assert queued_tasks == [("worker.tasks.embed_image", [image.pk])]


def test_a_requeued_image_is_not_queued_again_until_it_is_stale_once_more(clinician, queued_tasks):
    make_image(clinician, "embedding", idle=long_ago())

    stuck_tasks.sweep(waiting=set())
    stuck_tasks.sweep(waiting=set())  # the new message is not in ``waiting``, but the row was just touched

    assert len(queued_tasks) == 1


def test_while_the_broker_cannot_be_read_the_sweep_requeues_nothing(clinician, queued_tasks, monkeypatch):
    make_image(clinician, "queued", idle=long_ago())
    monkeypatch.setattr(stuck_tasks, "waiting_task_ids", lambda: None)

    counts = stuck_tasks.sweep()

    assert counts == {"images": 0, "dataset_uploads": 0} and queued_tasks == []


def test_a_stuck_dataset_validation_is_queued_again(team, queued_tasks):
    upload = make_upload(team, "validating", idle=long_ago())

    counts = stuck_tasks.sweep(waiting=set())

    upload.refresh_from_db()
    assert counts["dataset_uploads"] == 1
    assert queued_tasks == [("worker.dataset_tasks.validate_dataset", [upload.pk])]
    assert upload.state == "validating" and upload.task_id == "task-1"


def test_a_stuck_dataset_import_is_queued_again_as_an_import(team, queued_tasks):
    upload = make_upload(team, "importing", idle=long_ago())

    stuck_tasks.sweep(waiting=set())

    assert queued_tasks == [("worker.dataset_tasks.import_dataset", [upload.pk])]


def test_a_validation_that_waits_in_the_broker_or_runs_on_a_live_worker_is_left_alone(team, queued_tasks):
    make_upload(team, "validating", idle=long_ago(), task_id="waiting-task")
    make_upload(team, "validating", idle=just_now())

    stuck_tasks.sweep(waiting={"waiting-task"})

    assert queued_tasks == []


def test_settled_and_uploading_sessions_are_never_queued_again(team, queued_tasks):
    for state in ("uploading", "awaiting_confirmation", "imported", "failed", "cancelled"):
        make_upload(team, state, idle=long_ago())

    stuck_tasks.sweep(waiting=set())

    assert queued_tasks == []


def test_a_worker_running_a_task_keeps_its_row_out_of_the_sweep(clinician, queued_tasks):
    from worker.tasks import embed_image

    image = make_image(clinician, "embedding", idle=long_ago())
    task_prerun.send(sender=embed_image, task_id="running-task", task=embed_image, args=[image.pk], kwargs={})
    try:
        stuck_tasks.sweep(waiting=set())
    finally:
        task_postrun.send(sender=embed_image, task_id="running-task", task=embed_image, args=[image.pk], kwargs={})

    assert queued_tasks == []


def test_the_startup_requeue_queues_every_pending_image_and_session_once(clinician, team, queued_tasks):
    from webapp.datasets.services import requeue_pending
    from webapp.segmentation.services import requeue_pending_embeddings

    embedding = make_image(clinician, "embedding", idle=just_now())
    make_image(clinician, "ready", idle=long_ago())
    validating = make_upload(team, "validating", idle=just_now())

    assert requeue_pending_embeddings() == 1
    assert requeue_pending() == 1

    embedding.refresh_from_db()
    assert embedding.status == "queued"
    assert queued_tasks == [
        ("worker.tasks.embed_image", [embedding.pk]),
        ("worker.dataset_tasks.validate_dataset", [validating.pk]),
    ]


def test_the_ids_of_messages_waiting_in_a_real_redis_are_read_from_every_queue_and_priority(tmp_path):
    from celery import Celery

    from webapp.kdsam_studio import embedded_redis

    url = embedded_redis.ensure_running(tmp_path)
    app = Celery("sweep-test", broker=url)
    try:
        plain = app.send_task("worker.tasks.embed_image", args=[1], queue="gpu")
        urgent = app.send_task("worker.job_tasks.run_job", args=[2], queue="gpu", priority=0)
        low = app.send_task("worker.job_tasks.run_job", args=[3], queue="gpu", priority=9)
        validation = app.send_task("worker.dataset_tasks.validate_dataset", args=[4], queue="cpu")

        waiting = stuck_tasks.waiting_task_ids(app)

        assert {plain.id, urgent.id, low.id, validation.id} <= waiting
    finally:
        app.close()
        embedded_redis.stop(tmp_path)


def test_the_ids_of_waiting_messages_are_unknown_while_redis_is_down(tmp_path):
    from celery import Celery

    from webapp.kdsam_studio import embedded_redis

    url = embedded_redis.ensure_running(tmp_path)
    embedded_redis.stop(tmp_path)
    deadline = time.monotonic() + 10  # SIGTERM: the server exits on its own
    while embedded_redis.running_url(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    app = Celery("sweep-test", broker=url)
    try:
        assert stuck_tasks.waiting_task_ids(app) is None
    finally:
        app.close()


def test_celery_workers_load_the_sweep_and_its_heartbeat():
    from worker.celery_app import app

    assert "webapp.kdsam_studio.stuck_tasks" in app.conf.imports
