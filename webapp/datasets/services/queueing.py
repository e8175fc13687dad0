"""Queueing the validation and the import of upload sessions (the task routes pick their queue)."""

from __future__ import annotations

from django.utils import timezone

from webapp.datasets.models import DatasetUpload
from webapp.datasets.services.sessions import State


def enqueue_validation(upload_id: int) -> None:
    from worker.dataset_tasks import validate_dataset as task

    result = task.apply_async(args=[upload_id])
    DatasetUpload.objects.filter(pk=upload_id, task_id="").update(task_id=result.id or "")


def enqueue_import(upload_id: int) -> None:
    from worker.dataset_tasks import import_dataset as task

    result = task.apply_async(args=[upload_id])
    DatasetUpload.objects.filter(pk=upload_id).update(task_id=result.id or "")


#: The states in which an upload session waits for its task (webapp/kdsam_studio/stuck_tasks.py sweeps them).
PENDING_STATES = (State.VALIDATING, State.IMPORTING)


def requeue_pending() -> int:
    """Queue again every upload session a restart interrupted (the embedded broker keeps nothing)."""
    pending = list(DatasetUpload.objects.filter(state__in=PENDING_STATES).values_list("pk", "state"))
    return sum(requeue_upload(upload_id, state) for upload_id, state in pending)


def requeue_upload(upload_id: int, state: str, seen_updated_at=None) -> bool:
    """Queue the validation (``validating``) or import (``importing``) of a session again; whether this call did.

    Only while it is still in ``state`` and, with ``seen_updated_at``, still as the caller saw it (the stuck-task
    sweep): of several sweeps that saw the same stuck session, one conditional update wins and only it enqueues.
    """
    rows = DatasetUpload.objects.filter(pk=upload_id, state=state)
    if seen_updated_at is not None:
        rows = rows.filter(updated_at=seen_updated_at)
    if not rows.update(task_id="", updated_at=timezone.now()):
        return False
    (enqueue_validation if state == State.VALIDATING else enqueue_import)(upload_id)
    return True
