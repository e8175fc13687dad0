"""Cancelling upload sessions, forgetting settled ones and deleting datasets with the files they alone hold."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from webapp.datasets import storage
from webapp.datasets.models import Dataset, DatasetUpload
from webapp.datasets.services.errors import DatasetRejected
from webapp.datasets.services.sessions import ACTIVE_STATES, SETTLED_STATES, State, discard_archive


def cancel(upload: DatasetUpload, *, reason: str = "The upload was cancelled.") -> DatasetUpload:
    """Stop an upload, a validation or an import; a running import notices and rolls back."""
    with transaction.atomic():
        locked = DatasetUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.state not in ACTIVE_STATES:
            raise DatasetRejected(
                "not_cancellable",
                f"{upload.name} is {locked.state}; "
                "only uploads being transferred, validated or imported can be cancelled.",
                status=409,
            )
        importing = locked.state == State.IMPORTING
        locked.state = State.CANCELLED
        locked.progress_stage = "cancelled"
        locked.error = reason
        locked.finished_at = timezone.now()
        locked.save()
    if not importing:  # the import task removes the archive itself once it stopped
        discard_archive(locked)
    return locked


def delete_upload(upload: DatasetUpload) -> None:
    """Forget a settled upload session (its dataset, if any, stays). Refused while it is active."""
    if upload.state not in SETTLED_STATES:
        raise DatasetRejected(
            "upload_active", f"The upload of {upload.name} is {upload.state}; cancel it first.", status=409
        )
    discard_archive(upload)
    upload.delete()


def delete_dataset(dataset: Dataset) -> None:
    """Delete the dataset, its items and the files no other dataset shares.

    Refused while a queued or running job reads it. Its upload session stays (as history).
    """
    from webapp.jobs.selectors import active_jobs_using_dataset

    busy = list(active_jobs_using_dataset(dataset.pk).values_list("pk", flat=True))
    if busy:
        raise DatasetRejected(
            "dataset_in_use",
            f"Dataset '{dataset.name}' is used by job(s) {', '.join(map(str, busy))}; "
            "cancel them or wait until they finish, then delete it.",
        )
    rels = set()
    for image_file, mask_file in dataset.items.values_list("image_file", "mask_file"):
        rels.add(image_file)
        if mask_file:
            rels.add(mask_file)
    with transaction.atomic():
        dataset.delete()
        transaction.on_commit(lambda: storage.remove_unreferenced(rels))
