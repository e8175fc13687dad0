"""Every task and every job kind lands on its queue, as Celery's own router resolves it."""

from __future__ import annotations

import pytest

from webapp.jobs.models import Job
from webapp.jobs.params import PARAMS_BY_KIND
from webapp.kdsam_studio import queues
from worker.celery_app import app

TASK_QUEUES = {
    "worker.tasks.embed_image": "gpu",
    "worker.dataset_tasks.validate_dataset": "cpu",
    "worker.dataset_tasks.import_dataset": "cpu",
}
JOB_KIND_QUEUES = {"distill": "gpu", "finetune": "gpu", "evaluate": "gpu", "embed": "gpu", "export": "cpu"}


def routed_queue(name: str, args=(), kwargs=None, options=None) -> str:
    return app.amqp.router.route(dict(options or {}), name, args, kwargs)["queue"].name


@pytest.mark.parametrize(("task_name", "queue"), TASK_QUEUES.items())
def test_each_task_lands_on_its_queue(task_name, queue):
    assert routed_queue(task_name, args=(1,)) == queue


@pytest.mark.parametrize(("kind", "queue"), JOB_KIND_QUEUES.items())
def test_each_job_kind_lands_on_its_queue(kind, queue):
    assert routed_queue(queues.JOB_TASK, args=(1,), kwargs={"kind": kind}) == queue
    assert queues.queue_for_job_kind(kind) == queue


def test_the_table_names_every_task_and_every_job_kind_and_no_task_sets_its_own_queue():
    app.loader.import_default_modules()  # the task modules a worker imports (``include=``)
    ours = {name for name in app.tasks if name.startswith("worker.")}
    assert ours == set(TASK_QUEUES) | {queues.JOB_TASK}
    assert all(getattr(app.tasks[name], "queue", None) is None for name in ours)  # no queue= in a decorator
    assert set(queues.QUEUE_BY_JOB_KIND) == set(PARAMS_BY_KIND) == set(Job.Kind.values)


def test_an_unknown_task_goes_to_the_default_queue():
    assert app.conf.task_default_queue == queues.DEFAULT_QUEUE
    assert routed_queue("somewhere.else") == queues.DEFAULT_QUEUE


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["finetune", "export"])
def test_enqueueing_a_job_passes_its_kind_and_no_queue(kind, monkeypatch, django_user_model):
    from tests.web.jobs_fixtures import make_team
    from webapp.jobs import services
    from worker.job_tasks import run_job

    sent = []

    class Result:
        id = "task-1"

    def apply_async(args=None, kwargs=None, **options):
        sent.append((args, kwargs, options))
        return Result()

    monkeypatch.setattr(run_job, "apply_async", apply_async)
    user = django_user_model.objects.create_user("router", password=None)
    job = Job.objects.create(kind=kind, team=make_team("Routing", {user: "trainer"}), owner=user)
    job.queue = queues.queue_for_job_kind(kind)  # what submit_job stores
    services.enqueue(job)

    [(args, kwargs, options)] = sent
    assert "queue" not in options
    assert routed_queue(queues.JOB_TASK, args, kwargs, options) == job.queue == JOB_KIND_QUEUES[kind]
