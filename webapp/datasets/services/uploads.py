"""Starting upload sessions (a chunked upload, or a server folder) and receiving the archive's bytes."""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from webapp.accounts.models import Team
from webapp.datasets import conf, storage
from webapp.datasets.models import DatasetUpload
from webapp.datasets.services import quota
from webapp.datasets.services.errors import DatasetRejected
from webapp.datasets.services.options import split_options
from webapp.datasets.services.queueing import enqueue_validation
from webapp.datasets.services.sessions import State
from webapp.kdsam_studio.broker_errors import BROKER_ERRORS, queue_unavailable

log = logging.getLogger(__name__)


def _archive_suffix(filename: str) -> str | None:
    lower = filename.lower()
    for suffix in sorted(conf.ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return suffix
    return None


def _admit_archive(filename: str, size: int) -> str:
    """The archive's suffix, once its type, its size and the server's free space allow it."""
    suffix = _archive_suffix(filename)
    if suffix is None:
        raise DatasetRejected(
            "unsupported_archive",
            f"{filename} is not a .zip or .tar.gz archive; "
            "compress the dataset folder as .zip or .tar.gz and upload that.",
            field="filename",
        )
    if size <= 0:
        raise DatasetRejected("empty_file", f"{filename} is empty.", field="size")
    if size > conf.MAX_ARCHIVE_BYTES:
        raise DatasetRejected(
            "archive_too_large",
            f"{filename} is {size / conf.GIB:.1f} GiB; "
            f"archives may be at most {conf.MAX_ARCHIVE_BYTES / conf.GIB:.1f} GiB. "
            "Split the dataset or ask an admin to import it from a server folder.",
            field="size",
        )
    # Room for the archive's own bytes only: whether the server has room for what it expands to is known
    # once it has arrived, from the sizes it declares (kdsam_core.datasets.archive, before extracting).
    root = conf.media_root()
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < size:
        raise DatasetRejected(
            "insufficient_storage",
            f"The server lacks the free space for {filename} ({size / conf.GIB:.1f} GiB, "
            f"{free / conf.GIB:.1f} GiB free). Split the dataset into smaller archives, "
            "or ask an admin to free disk space.",
            status=507,
        )
    return suffix


def create_upload(
    user,
    team_id: int,
    *,
    name: str,
    filename: str,
    size: int,
    description: str = "",
    format: str = "",
    mask_label: int | None = None,
    seed: int | None = None,
    ratios=None,
) -> DatasetUpload:
    """Start a chunked upload of an archive of ``size`` bytes (nothing is validated until it is complete).

    Creates the upload session only: no dataset exists until the import succeeds. Its declared ``size`` must fit
    in the team's storage quota (413 ``team_quota_exceeded``); it is reserved until the session is settled.
    """
    suffix = _admit_archive(filename, size)
    seed, fractions = split_options(format, seed, ratios)
    rel = f"{conf.UPLOADS}/{uuid.uuid4().hex}{suffix}"
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team_id)  # one quota check at a time per team
        quota.ensure_room(team, size, what=Path(filename).name, field="size")
        storage.path_of(rel).parent.mkdir(parents=True, exist_ok=True)
        storage.path_of(rel).touch()
        try:
            return DatasetUpload.objects.create(
                team_id=team_id,
                name=name.strip()[:200] or Path(filename).name,
                description=description or "",
                created_by=user,
                state=State.UPLOADING,
                requested_format=format or "",
                mask_label=mask_label,
                original_filename=Path(filename).name[:255],
                upload_path=rel,
                upload_size=size,
                split_seed=seed,
                split_ratios=fractions,
            )
        except BaseException:
            storage.path_of(rel).unlink(missing_ok=True)
            raise


def create_folder_import(
    user,
    team_id: int,
    *,
    name: str,
    path: str,
    description: str = "",
    format: str = "",
    mask_label: int | None = None,
    seed: int | None = None,
    ratios=None,
    enqueue: bool = True,
    any_path: bool = False,
) -> DatasetUpload:
    """An upload session reading a server-side folder or archive (staff only; the source is never modified or deleted).

    Through the web, ``path`` must lie under one of ``KDSAM_DATASET_IMPORT_ROOTS``; the management
    command (run by someone with a shell on the server) passes ``any_path``.
    """
    source = Path(path).expanduser()
    if not source.is_absolute() or not source.exists():
        raise DatasetRejected(
            "source_not_found",
            f"{path} does not exist on the server; give an absolute path to a dataset folder or archive.",
            field="path",
        )
    roots = settings.STUDIO.dataset_import_roots
    if not any_path and not any(source.resolve().is_relative_to(root) for root in roots):
        allowed = ", ".join(map(str, roots)) or "none configured"
        raise DatasetRejected(
            "source_not_allowed",
            f"{path} is outside the folders datasets may be imported from ({allowed}); "
            "list the parent folder in KDSAM_DATASET_IMPORT_ROOTS.",
            field="path",
        )
    seed, fractions = split_options(format, seed, ratios)
    quota.ensure_room(Team.objects.get(pk=team_id), 0, what=f"importing {source.name}", field="path")
    upload = DatasetUpload.objects.create(
        team_id=team_id,
        name=name.strip()[:200] or source.name,
        description=description or "",
        created_by=user,
        state=State.VALIDATING,
        progress_stage="queued",
        requested_format=format or "",
        mask_label=mask_label,
        original_filename=source.name[:255],
        source_path=str(source.resolve()),
        split_seed=seed,
        split_ratios=fractions,
    )
    if enqueue:
        # Not in on_commit: a broker failure must undo the session instead of leaving it validating without a task.
        try:
            enqueue_validation(upload.pk)
        except BROKER_ERRORS:
            log.exception("could not queue the validation of upload %s; the import is undone", upload.pk)
            upload.delete()
            raise queue_unavailable("the import was not started.") from None
    return upload


def receive_chunk(upload: DatasetUpload, offset: int, stream, length: int | None) -> DatasetUpload:
    """Append the bytes of ``stream`` at ``offset`` (must equal the bytes received so far)."""
    if upload.state != State.UPLOADING:
        raise DatasetRejected(
            "upload_closed", f"The upload of {upload.name} is {upload.state}; it takes no more data.", status=409
        )
    if offset != upload.upload_received:
        raise DatasetRejected(
            "wrong_offset",
            f"Expected offset {upload.upload_received}, got {offset}; resume from {upload.upload_received}.",
            field="offset",
            status=409,
        )
    if length is not None and length > conf.MAX_CHUNK_BYTES:
        raise DatasetRejected("chunk_too_large", f"A chunk may hold at most {conf.MAX_CHUNK_BYTES} bytes.", status=413)
    path = storage.path_of(upload.upload_path)
    remaining = upload.upload_size - offset
    written = 0
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.truncate()
        while True:
            chunk = stream.read(min(1024 * 1024, remaining - written + 1))
            if not chunk:
                break
            written += len(chunk)
            if written > remaining or written > conf.MAX_CHUNK_BYTES:
                handle.truncate(offset)
                raise DatasetRejected(
                    "upload_too_large",
                    f"More bytes were sent than the {upload.upload_size} declared for {upload.original_filename}.",
                    status=413,
                )
            handle.write(chunk)
    before = (upload.state, upload.progress_stage, upload.progress_done, upload.progress_total)
    upload.upload_received = offset + written
    complete = upload.upload_received == upload.upload_size
    if complete:
        upload.state = State.VALIDATING
        upload.progress_stage, upload.progress_done, upload.progress_total = "queued", 0, 0
    upload.save(
        update_fields=["upload_received", "state", "progress_stage", "progress_done", "progress_total", "updated_at"]
    )
    if complete:
        # Not in on_commit: a broker failure must take the last chunk back (the client sends it again) instead
        # of leaving the session validating without a task.
        try:
            enqueue_validation(upload.pk)
        except BROKER_ERRORS:
            log.exception("could not queue the validation of upload %s; its last chunk is dropped", upload.pk)
            with open(path, "r+b") as handle:
                handle.truncate(offset)
            upload.upload_received = offset
            upload.state, upload.progress_stage, upload.progress_done, upload.progress_total = before
            upload.save(
                update_fields=[
                    "upload_received",
                    "state",
                    "progress_stage",
                    "progress_done",
                    "progress_total",
                    "updated_at",
                ]
            )
            raise queue_unavailable("your last chunk was not stored.") from None
        upload.refresh_from_db()
    return upload
