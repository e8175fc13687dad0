"""Which Celery queue each task runs on: the one routing table (``CELERY_TASK_ROUTES`` points here).

Queues: ``gpu`` (encoder embeddings, training) and ``cpu`` (dataset validation and import, exports).
Tasks and call sites name no queue; Celery asks :func:`route_task` when a task is sent. A job's
task (``worker.job_tasks.run_job``) is routed by the job's kind, which the caller passes as the
``kind`` keyword argument; ``Job.queue`` is set from :data:`QUEUE_BY_JOB_KIND` at submission.

Loaded by the settings, so it imports no Django models or domain services.
"""

from __future__ import annotations

GPU = "gpu"
CPU = "cpu"

#: Where a task with no route goes (``CELERY_TASK_DEFAULT_QUEUE``).
DEFAULT_QUEUE = CPU

#: The task of training jobs; routed by :data:`QUEUE_BY_JOB_KIND`.
JOB_TASK = "worker.job_tasks.run_job"

#: Which queue each job kind runs on.
QUEUE_BY_JOB_KIND = {"distill": GPU, "finetune": GPU, "evaluate": GPU, "embed": GPU, "export": CPU}

#: Which queue every other task runs on.
QUEUE_BY_TASK = {
    "worker.tasks.embed_image": GPU,
    "worker.dataset_tasks.validate_dataset": CPU,
    "worker.dataset_tasks.import_dataset": CPU,
}


def queue_for_job_kind(kind: str) -> str:
    return QUEUE_BY_JOB_KIND[kind]


def route_task(name, args, kwargs, options, task=None, **_):
    """Celery router: ``{"queue": ...}`` for a task of the table, ``None`` (the default queue) otherwise."""
    if name == JOB_TASK:
        kind = (kwargs or {}).get("kind")
        return {"queue": QUEUE_BY_JOB_KIND[kind]} if kind in QUEUE_BY_JOB_KIND else None
    queue = QUEUE_BY_TASK.get(name)
    return {"queue": queue} if queue else None
