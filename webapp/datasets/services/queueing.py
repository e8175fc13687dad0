"""Queueing the validation and the import of upload sessions (the task routes pick their queue)."""

from __future__ import annotations

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


def requeue_pending() -> int:
    """Queue again every upload session a restart interrupted (the embedded broker keeps nothing)."""
    count = 0
    for upload in DatasetUpload.objects.filter(state=State.VALIDATING):
        enqueue_validation(upload.pk)
        count += 1
    for upload in DatasetUpload.objects.filter(state=State.IMPORTING):
        enqueue_import(upload.pk)
        count += 1
    return count
