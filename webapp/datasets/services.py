"""Business logic of datasets: chunked upload, validation, confirmation, atomic import, deletion.

The flow of one upload session (:class:`DatasetUpload`)::

    create_upload ─► receive_chunk … (uploading) ─► validating (task, cpu queue)
        ─► awaiting_confirmation ─► confirm ─► importing ─► run_import (task) ─► imported (+ its Dataset)
    blocking problems / import error ─► failed; cancel ─► cancelled (report and reason kept on the session)

An import stores every image and mask by content hash, then creates the :class:`Dataset` row and all its
items in one transaction: the dataset exists only if the import succeeded. When it fails or is cancelled
nothing stays: no dataset row, no item, the staged archive is removed and so are the object files the
import created (unless another dataset references them).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage

from kdsam_core.datasets import FORMAT_KEYS, assign_splits, open_dataset, parse_ratios
from kdsam_core.datasets.images import is_dicom_file, read_image_array
from kdsam_core.datasets.problems import describe_blocking
from kdsam_core.datasets.validate import default_workers, find_duplicates, safe_check_sample
from webapp.datasets import conf, storage
from webapp.datasets.models import Dataset, DatasetItem, DatasetUpload
from webapp.kdsam_studio.api_errors import ApiError

log = logging.getLogger(__name__)
State = DatasetUpload.State

#: States in which an upload session is still being processed (cancel applies).
ACTIVE_STATES = (State.UPLOADING, State.VALIDATING, State.AWAITING_CONFIRMATION, State.IMPORTING)
#: States in which it is settled (its record may be deleted).
SETTLED_STATES = (State.IMPORTED, State.FAILED, State.CANCELLED)


class DatasetRejected(ApiError):
    """A dataset request the user can fix; ``code`` is stable, ``message`` says what to do."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 400):
        super().__init__(code, message, field=field, status_code=status)


class ImportCancelled(Exception):
    pass


#: Samples stored between two checks for a cancellation.
IMPORT_BATCH = 64


# -- creating ------------------------------------------------------------------------------------
def _archive_suffix(filename: str) -> str | None:
    lower = filename.lower()
    for suffix in sorted(conf.ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return suffix
    return None


def _split_options(format: str, seed, ratios) -> tuple[int, dict]:
    if format and format not in FORMAT_KEYS:
        raise DatasetRejected(
            "invalid_format",
            f"Unknown format {format!r}; choose one of {', '.join(FORMAT_KEYS)} or leave it empty to detect it.",
            field="format",
        )
    try:
        fractions = parse_ratios(ratios if ratios is not None else conf.DEFAULT_RATIOS)
    except (TypeError, ValueError) as error:
        raise DatasetRejected("invalid_ratios", f"Invalid split ratios: {error}.", field="ratios") from None
    return int(seed if seed is not None else conf.DEFAULT_SEED), {k: round(v, 6) for k, v in fractions.items()}


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

    Creates the upload session only: no dataset exists until the import succeeds.
    """
    suffix = _archive_suffix(filename)
    if suffix is None:
        raise DatasetRejected(
            "unsupported_archive",
            f"{filename} is not a .zip or .tar.gz archive; compress the dataset folder as .zip or .tar.gz and upload that.",
            field="filename",
        )
    if size <= 0:
        raise DatasetRejected("empty_file", f"{filename} is empty.", field="size")
    if size > conf.MAX_ARCHIVE_BYTES:
        raise DatasetRejected(
            "archive_too_large",
            f"{filename} is {size / conf.GIB:.1f} GiB; archives may be at most {conf.MAX_ARCHIVE_BYTES / conf.GIB:.1f} GiB. Split the dataset or ask an admin to import it from a server folder.",
            field="size",
        )
    root = conf.media_root()
    root.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(root).free < size * 2:
        raise DatasetRejected(
            "insufficient_storage",
            f"The server lacks the free space for {filename} ({size / conf.GIB:.1f} GiB, twice that while importing).",
            status=507,
        )
    seed, fractions = _split_options(format, seed, ratios)
    rel = f"{conf.UPLOADS}/{uuid.uuid4().hex}{suffix}"
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
    seed, fractions = _split_options(format, seed, ratios)
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
        transaction.on_commit(lambda: enqueue_validation(upload.pk))
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
    upload.upload_received = offset + written
    complete = upload.upload_received == upload.upload_size
    if complete:
        upload.state = State.VALIDATING
        upload.progress_stage, upload.progress_done, upload.progress_total = "queued", 0, 0
    upload.save(
        update_fields=["upload_received", "state", "progress_stage", "progress_done", "progress_total", "updated_at"]
    )
    if complete:
        transaction.on_commit(lambda: enqueue_validation(upload.pk))
        upload.refresh_from_db()
    return upload


# -- tasks ---------------------------------------------------------------------------------------
def enqueue_validation(upload_id: int) -> None:
    from worker.dataset_tasks import validate_dataset as task

    result = task.apply_async(args=[upload_id], queue="cpu")
    DatasetUpload.objects.filter(pk=upload_id, task_id="").update(task_id=result.id or "")


def enqueue_import(upload_id: int) -> None:
    from worker.dataset_tasks import import_dataset as task

    result = task.apply_async(args=[upload_id], queue="cpu")
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


def _source(upload: DatasetUpload) -> Path:
    return Path(upload.source_path) if upload.source_path else storage.path_of(upload.upload_path)


def _remove_upload(upload: DatasetUpload) -> None:
    """Delete the staged archive (server folders are never touched) and forget its path."""
    if upload.upload_path:
        storage.path_of(upload.upload_path).unlink(missing_ok=True)
        DatasetUpload.objects.filter(pk=upload.pk).update(upload_path="")
        upload.upload_path = ""


def _check_all(opened, progress: Progress, stage: str):
    """Validate every candidate like ``Dataset.checks`` does, reporting progress as it goes."""
    candidates = opened.candidates
    total = len(candidates)
    progress(stage, 0, total, force=True)
    checks = []
    with ThreadPoolExecutor(max_workers=default_workers()) as pool:
        for check in pool.map(safe_check_sample, candidates):
            checks.append(check)
            progress(stage, len(checks), total)
    find_duplicates(checks)
    opened._checks = checks  # the same cache Dataset.checks fills
    progress(stage, total, total, force=True)
    return checks


def _public_report(report: dict, upload: DatasetUpload) -> dict:
    report = dict(report)
    report["source"] = upload.original_filename  # never the server path of the upload
    report["limits"] = {**report.get("limits", {}), "temp_dir": None}
    return report


def validate(upload_id: int) -> DatasetUpload | None:
    """Extract, detect, read and check the source; store the report. Never raises for bad data."""
    upload = DatasetUpload.objects.filter(pk=upload_id).first()
    if upload is None or upload.state != State.VALIDATING:
        return upload
    progress = Progress(upload_id)
    progress("extracting", force=True)
    try:
        with open_dataset(
            _source(upload), conf.limits(), format=upload.requested_format or None, mask_label=upload.mask_label
        ) as opened:
            progress("checking", force=True)
            _check_all(opened, progress, "checking")
            report = _public_report(opened.report().to_dict(), upload)
            blocking = describe_blocking(opened.problems)
    except Exception as error:
        log.exception("validation of dataset upload %s failed", upload_id)
        report, blocking = None, f"The dataset could not be read: {error.__class__.__name__}: {error}"
    with transaction.atomic():
        upload = DatasetUpload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None or upload.state != State.VALIDATING:  # cancelled or deleted meanwhile
            if upload is not None:
                _remove_upload(upload)
            return upload
        upload.report = report
        upload.format = (report or {}).get("format") or ""
        if report is not None and report["importable"]:
            upload.state = State.AWAITING_CONFIRMATION
        else:
            upload.state = State.FAILED
            upload.error = blocking or "No usable image was found."
            upload.finished_at = timezone.now()
            _remove_upload(upload)
        upload.progress_stage = "validated"
        upload.save()
    return upload


# -- confirming and importing ---------------------------------------------------------------------
def confirm(
    upload: DatasetUpload,
    *,
    skip_codes=(),
    skip_samples=(),
    keep_duplicates: bool = False,
    seed: int | None = None,
    ratios=None,
    enqueue: bool = True,
) -> DatasetUpload:
    """Accept the report with the user's choices and queue the import (``enqueue=False``: the caller runs it)."""
    if upload.state != State.AWAITING_CONFIRMATION:
        raise DatasetRejected(
            "not_awaiting_confirmation",
            f"{upload.name} is {upload.state}; only a validated upload awaiting confirmation can be imported.",
            status=409,
        )
    unknown = sorted(set(skip_codes) - set(conf.SKIPPABLE_CHOICES))
    if unknown:
        raise DatasetRejected(
            "invalid_skip",
            f"These problems cannot be chosen to skip: {', '.join(unknown)}; choose among {', '.join(conf.SKIPPABLE_CHOICES)}.",
            field="skip",
        )
    seed, fractions = _split_options(
        "", seed if seed is not None else upload.split_seed, ratios if ratios is not None else upload.split_ratios
    )
    report = upload.report or {}
    skipped_ids = set(skip_samples) | {
        p["sample_id"] for p in report.get("problems", []) if p.get("code") in set(skip_codes) and p.get("sample_id")
    }
    kept = report.get("pairs", 0) + report.get("unlabelled", 0)
    if keep_duplicates:
        kept += report.get("problem_counts", {}).get("duplicate_image", 0)
    if kept - len(skipped_ids) <= 0:
        raise DatasetRejected(
            "nothing_to_import", "With these choices every image would be skipped; skip fewer problems.", field="skip"
        )
    with transaction.atomic():
        locked = DatasetUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.state != State.AWAITING_CONFIRMATION:
            raise DatasetRejected("not_awaiting_confirmation", f"{upload.name} is {locked.state}.", status=409)
        locked.skip_codes = sorted(set(skip_codes))
        locked.skip_samples = sorted(set(skip_samples))
        locked.keep_duplicates = bool(keep_duplicates)
        locked.split_seed, locked.split_ratios = seed, fractions
        locked.state = State.IMPORTING
        locked.progress_stage, locked.progress_done, locked.progress_total = "queued", 0, 0
        locked.save()
        if enqueue:
            transaction.on_commit(lambda: enqueue_import(locked.pk))
    return locked


def _selected(opened, checks, upload: DatasetUpload) -> list:
    """The samples to import: usable ones (+ kept duplicates) minus the user's skips."""
    codes_by_id: dict[str, set[str]] = defaultdict(set)
    for problem in opened.problems:
        if problem.sample_id:
            codes_by_id[problem.sample_id].add(problem.code)
    skip_codes, skip_ids = set(upload.skip_codes), set(upload.skip_samples)
    out = []
    for check in checks:
        sample = check.sample
        codes = codes_by_id.get(sample.id, set())
        if not check.usable and not (
            upload.keep_duplicates and {p.code for p in check.problems} == {"duplicate_image"}
        ):
            continue
        if codes & skip_codes or sample.id in skip_ids:
            continue
        out.append(sample)
    return out


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def store_sample(sample, split: str, created: list[str]) -> DatasetItem:
    """Store one sample's image (byte copy; DICOM as PNG) and mask (PNG 0/255); an unsaved item without
    its dataset (the dataset row is created with the items, once every file is stored)."""
    if is_dicom_file(sample.image_path):
        image_rel, image_sha, new = storage.put_bytes(_png_bytes(sample.load_image()), ".png")
    else:
        image_rel, image_sha, new = storage.put_file(sample.image_path, sample.image_path.suffix or ".img")
    if new:
        created.append(image_rel)
    mask_rel = mask_sha = ""
    mask = sample.load_mask()
    if mask is not None:
        mask_rel, mask_sha, new = storage.put_bytes(_png_bytes((mask > 0).astype(np.uint8) * 255), ".png")
        if new:
            created.append(mask_rel)
    return DatasetItem(
        item_id=sample.id[:255],
        image_file=image_rel,
        mask_file=mask_rel,
        sha256=image_sha,
        mask_sha256=mask_sha,
        split=split,
        split_group=sample.split_group[:255],
        class_label=(sample.label or "")[:100],
        subset=(sample.subset or "")[:32],
        negative=bool(sample.negative),
        unlabelled=bool(sample.unlabelled),
        width=sample.width or 0,
        height=sample.height or 0,
        source_image=sample.image[:1000],
    )


def _counts(items: list[DatasetItem]) -> dict:
    splits = Counter(item.split for item in items)
    split_classes: dict[str, dict[str, int]] = {}
    for item in items:
        if item.class_label:
            split_classes.setdefault(item.split, {}).setdefault(item.class_label, 0)
            split_classes[item.split][item.class_label] += 1
    return {
        "items": len(items),
        "pairs": sum(1 for i in items if not i.unlabelled),
        "unlabelled": sum(1 for i in items if i.unlabelled),
        "negatives": sum(1 for i in items if i.negative),
        "groups": len({i.split_group for i in items}),
        "splits": {name: splits.get(name, 0) for name in ("train", "val", "test")},
        "classes": dict(sorted(Counter(i.class_label for i in items if i.class_label).items())),
        "split_classes": split_classes,
    }


def _still_importing(upload_id: int) -> bool:
    return DatasetUpload.objects.filter(pk=upload_id, state=State.IMPORTING).exists()


def _create_dataset(upload: DatasetUpload, items: list[DatasetItem]) -> Dataset:
    """The dataset row and its items (call inside the import's transaction)."""
    dataset = Dataset.objects.create(
        team_id=upload.team_id,
        name=upload.name,
        description=upload.description,
        created_by_id=upload.created_by_id,
        state=Dataset.State.READY,
        format=upload.format or upload.requested_format,
        mask_label=upload.mask_label,
        original_filename=upload.original_filename,
        upload_size=upload.upload_size,
        source_path=upload.source_path,
        skip_codes=upload.skip_codes,
        skip_samples=upload.skip_samples,
        keep_duplicates=upload.keep_duplicates,
        split_seed=upload.split_seed,
        split_ratios=upload.split_ratios,
        counts=_counts(items),
    )
    for item in items:
        item.dataset = dataset
    DatasetItem.objects.bulk_create(items, batch_size=500)
    return dataset


def run_import(upload_id: int) -> DatasetUpload | None:
    """Copy the confirmed samples into storage, then create the dataset and its items in one transaction.

    On any error or a cancellation nothing stays: no dataset row, no item; the object files this import
    created are removed (unless another dataset references them meanwhile) and so is the staged archive.
    The upload session keeps the state (``failed``/``cancelled``) and the reason.
    """
    upload = DatasetUpload.objects.filter(pk=upload_id).first()
    if upload is None or upload.state != State.IMPORTING:
        return upload
    progress = Progress(upload_id)
    created: list[str] = []
    outcome, reason = State.IMPORTED, ""
    try:
        progress("extracting", force=True)
        with open_dataset(
            _source(upload),
            conf.limits(),
            format=upload.format or upload.requested_format or None,
            mask_label=upload.mask_label,
        ) as opened:
            checks = _check_all(opened, progress, "checking")
            if not opened.importable:
                raise RuntimeError(f"the source is no longer importable: {describe_blocking(opened.problems)}")
            samples = _selected(opened, checks, upload)
            if not samples:
                raise RuntimeError("no image is left to import with the chosen skips")
            splits = assign_splits(samples, upload.split_seed, upload.split_ratios)
            items: list[DatasetItem] = []
            store = lambda sample: store_sample(sample, splits[sample.id], created)  # noqa: E731
            with ThreadPoolExecutor(max_workers=default_workers()) as pool:  # waits for every write before cleanup
                for start in range(0, len(samples), IMPORT_BATCH):
                    if not _still_importing(upload_id):
                        raise ImportCancelled()
                    items.extend(pool.map(store, samples[start : start + IMPORT_BATCH]))
                    progress("storing", len(items), len(samples))
            with transaction.atomic():
                locked = DatasetUpload.objects.select_for_update().filter(pk=upload_id).first()
                if locked is None or locked.state != State.IMPORTING:
                    raise ImportCancelled()
                locked.dataset = _create_dataset(locked, items)
                locked.state = State.IMPORTED
                locked.progress_stage, locked.progress_done, locked.progress_total = "done", len(items), len(items)
                locked.error = ""
                locked.finished_at = timezone.now()
                locked.save()
            # A concurrent delete of another dataset (or the garbage collector) may have removed a shared
            # file before our items referenced it: write back whatever is missing (same content, same path).
            for item, sample in zip(items, samples):
                if not storage.path_of(item.image_file).exists() or (
                    item.mask_file and not storage.path_of(item.mask_file).exists()
                ):
                    store_sample(sample, item.split, [])
    except ImportCancelled:
        outcome, reason = State.CANCELLED, ""
    except Exception as error:
        log.exception("import of dataset upload %s failed", upload_id)
        outcome, reason = State.FAILED, f"The import failed and was rolled back: {error.__class__.__name__}: {error}"
    if outcome != State.IMPORTED:
        storage.remove_unreferenced(created)
        DatasetUpload.objects.filter(pk=upload_id, state=State.IMPORTING).update(
            state=outcome, error=reason, progress_stage=str(outcome), finished_at=timezone.now()
        )
    upload = DatasetUpload.objects.filter(pk=upload_id).first()
    if upload is not None:
        _remove_upload(upload)
    return upload


# -- cancelling and deleting ---------------------------------------------------------------------
def cancel(upload: DatasetUpload, *, reason: str = "The upload was cancelled.") -> DatasetUpload:
    """Stop an upload, a validation or an import; a running import notices and rolls back."""
    with transaction.atomic():
        locked = DatasetUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.state not in ACTIVE_STATES:
            raise DatasetRejected(
                "not_cancellable",
                f"{upload.name} is {locked.state}; only uploads being transferred, validated or imported can be cancelled.",
                status=409,
            )
        importing = locked.state == State.IMPORTING
        locked.state = State.CANCELLED
        locked.progress_stage = "cancelled"
        locked.error = reason
        locked.finished_at = timezone.now()
        locked.save()
    if not importing:  # the import task removes the archive itself once it stopped
        _remove_upload(locked)
    return locked


def delete_upload(upload: DatasetUpload) -> None:
    """Forget a settled upload session (its dataset, if any, stays). Refused while it is active."""
    if upload.state not in SETTLED_STATES:
        raise DatasetRejected(
            "upload_active", f"The upload of {upload.name} is {upload.state}; cancel it first.", status=409
        )
    _remove_upload(upload)
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


# -- thumbnails ----------------------------------------------------------------------------------
OVERLAY_RGBA = (255, 48, 48, 150)


def thumbnail(item: DatasetItem, kind: str) -> Path:
    """A cached thumbnail: ``image`` (JPEG) or ``mask`` (transparent PNG, foreground coloured)."""
    from django.conf import settings

    sha = item.sha256 if kind == "image" else item.mask_sha256
    rel = storage.thumbnail_rel(sha, kind)
    path = storage.path_of(rel)
    if path.exists():
        return path
    size = (conf.THUMBNAIL_SIZE, conf.THUMBNAIL_SIZE)
    if kind == "image":
        array = read_image_array(storage.path_of(item.image_file), settings.STUDIO.max_image_pixels)
        picture = PILImage.fromarray(array).convert("RGB")
        picture.thumbnail(size, PILImage.Resampling.BILINEAR)
        data = io.BytesIO()
        picture.save(data, format="JPEG", quality=85)
    else:
        with PILImage.open(storage.path_of(item.mask_file)) as mask:
            small = mask.convert("L")
            small.thumbnail(
                size, PILImage.Resampling.BOX
            )  # same size as the image's; partial coverage -> partial alpha
        alpha = np.asarray(small, dtype=np.float32) / 255.0 * OVERLAY_RGBA[3]
        rgba = np.zeros((small.height, small.width, 4), dtype=np.uint8)
        rgba[..., :3] = OVERLAY_RGBA[:3]
        rgba[..., 3] = alpha.round().astype(np.uint8)
        data = io.BytesIO()
        PILImage.fromarray(rgba, mode="RGBA").save(data, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    tmp.write_bytes(data.getvalue())
    os.replace(tmp, path)
    return path


# -- housekeeping --------------------------------------------------------------------------------
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
    from datetime import timedelta

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
            _remove_upload(upload)
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
