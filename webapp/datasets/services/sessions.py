"""An upload session's states, its source, its staged archive and its progress reports.

The flow of one upload session (:class:`~webapp.datasets.models.DatasetUpload`)::

    create_upload ─► receive_chunk … (uploading) ─► validating (task, cpu queue)
        ─► awaiting_confirmation ─► confirm ─► importing ─► run_import (task) ─► imported (+ its Dataset)
    blocking problems / import error ─► failed; cancel ─► cancelled (report and reason kept on the session)
"""

from __future__ import annotations

import time
from pathlib import Path

from webapp.datasets import conf, storage
from webapp.datasets.models import DatasetUpload

State = DatasetUpload.State

#: States in which an upload session is still being processed (cancel applies).
ACTIVE_STATES = (State.UPLOADING, State.VALIDATING, State.AWAITING_CONFIRMATION, State.IMPORTING)
#: States in which it is settled (its record may be deleted).
SETTLED_STATES = (State.IMPORTED, State.FAILED, State.CANCELLED)


def source_of(upload: DatasetUpload) -> Path:
    """What the session reads: the server folder or archive, else its staged upload."""
    return Path(upload.source_path) if upload.source_path else storage.path_of(upload.upload_path)


def discard_archive(upload: DatasetUpload) -> None:
    """Delete the staged archive (server folders are never touched) and forget its path."""
    if upload.upload_path:
        storage.path_of(upload.upload_path).unlink(missing_ok=True)
        DatasetUpload.objects.filter(pk=upload.pk).update(upload_path="")
        upload.upload_path = ""


class Progress:
    """Throttled writes of ``progress_stage/done/total`` for the status endpoint."""

    def __init__(self, upload_id: int):
        self.upload_id = upload_id
        self.last = 0.0

    def __call__(self, stage: str, done: int = 0, total: int = 0, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < conf.PROGRESS_INTERVAL_S and done < total:
            return
        self.last = now
        DatasetUpload.objects.filter(pk=self.upload_id).update(
            progress_stage=stage, progress_done=done, progress_total=total
        )
