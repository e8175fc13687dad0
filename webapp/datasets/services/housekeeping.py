"""Removing what an interrupted process or an abandoned upload left behind (``datasets_gc``, ``webapp.run``)."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from webapp.datasets import conf, storage
from webapp.datasets.models import DatasetUpload
from webapp.datasets.services.sessions import ACTIVE_STATES, State, discard_archive


def collect_garbage(*, min_age_s: float = 3600, stale_upload_s: float | None = None) -> dict:
    """Remove what an interrupted process or an abandoned upload may have left.

    - object files no item references (older than ``min_age_s``, so imports in flight are safe; an import
      also writes back any of its files removed before it committed);
    - extraction folders older than ``min_age_s``;
    - upload sessions idle in ``uploading`` for ``stale_upload_s`` (default: ``KDSAM_DATASET_UPLOAD_STALE_HOURS``)
      become ``cancelled`` with the reason, and their staged archive is deleted;
    - staged archives no active upload session points at (older than ``min_age_s``).

    Returns counts.
    """
    if stale_upload_s is None:
        stale_upload_s = settings.STUDIO.dataset_upload_stale_hours * 3600
    now = time.time()
    root = storage.path_of(conf.OBJECTS)
    old = (
        {
            str(p.relative_to(conf.media_root()))
            for p in root.rglob("*")
            if p.is_file() and now - p.stat().st_mtime > min_age_s
        }
        if root.exists()
        else set()
    )
    objects = storage.remove_unreferenced({rel for rel in old if not Path(rel).name.startswith(".tmp-")})
    for tmp in root.rglob(".tmp-*") if root.exists() else []:
        if now - tmp.stat().st_mtime > min_age_s:
            tmp.unlink(missing_ok=True)
    extraction = 0
    for folder in conf.tmp_dir().iterdir():
        if now - folder.stat().st_mtime > min_age_s:
            shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)
            extraction += 1
    stale = DatasetUpload.objects.filter(
        state=State.UPLOADING, updated_at__lt=timezone.now() - timedelta(seconds=stale_upload_s)
    )
    hours = stale_upload_s / 3600
    idle = f"{hours:g} hours" if hours >= 1 else f"{stale_upload_s:g} seconds"
    stale_sessions = 0
    for upload in stale:
        changed = DatasetUpload.objects.filter(pk=upload.pk, state=State.UPLOADING).update(
            state=State.CANCELLED,
            error=f"The upload was abandoned (no data for {idle}); upload the archive again.",
            progress_stage="cancelled",
            finished_at=timezone.now(),
        )
        if changed:
            discard_archive(upload)
            stale_sessions += 1
    referenced_uploads = set(
        DatasetUpload.objects.exclude(upload_path="")
        .filter(state__in=ACTIVE_STATES)
        .values_list("upload_path", flat=True)
    )
    staged = 0
    upload_dir = storage.path_of(conf.UPLOADS)
    for path in upload_dir.iterdir() if upload_dir.exists() else []:
        rel = str(path.relative_to(conf.media_root()))
        if rel not in referenced_uploads and now - path.stat().st_mtime > min_age_s:
            path.unlink(missing_ok=True)
            DatasetUpload.objects.filter(upload_path=rel).update(upload_path="")
            staged += 1
    return {
        "objects": objects,
        "extraction_folders": extraction,
        "stale_uploads": stale_sessions,
        "uploads": stale_sessions + staged,
    }
