"""The atomic import of a confirmed upload session.

Every image and mask is stored by content hash, then the :class:`Dataset` row and all its items are
created in one transaction: the dataset exists only if the import succeeded. When it fails or is
cancelled nothing stays: no dataset row, no item, the staged archive is removed and so are the object
files the import created (unless another dataset references them).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

from django.db import transaction
from django.utils import timezone

from kdsam_core.datasets import assign_splits, open_dataset
from kdsam_core.datasets.problems import describe_blocking
from kdsam_core.datasets.sample import Sample
from kdsam_core.datasets.validate import default_workers
from webapp.accounts.models import Team
from webapp.datasets import conf, storage
from webapp.datasets.models import Dataset, DatasetItem, DatasetUpload
from webapp.datasets.services import quota
from webapp.datasets.services.errors import DatasetRejected
from webapp.datasets.services.sample_files import store_sample
from webapp.datasets.services.sessions import Progress, State, discard_archive, source_of
from webapp.datasets.services.validation import check_all, public_text

log = logging.getLogger(__name__)

#: Samples stored between two checks for a cancellation.
IMPORT_BATCH = 64


class ImportCancelled(Exception):
    pass


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

    On any error, a cancellation or when what it adds does not fit in the team's storage quota
    (services/quota.py) nothing stays: no dataset row, no item; the object files this import created are
    removed (unless another dataset references them meanwhile) and so is the staged archive.
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
            source_of(upload),
            conf.limits(),
            format=upload.format or upload.requested_format or None,
            mask_label=upload.mask_label,
        ) as opened:
            checks = check_all(opened, progress, "checking")
            if not opened.importable:
                raise RuntimeError(f"the source is no longer importable: {describe_blocking(opened.problems)}")
            samples = _selected(opened, checks, upload)
            if not samples:
                raise RuntimeError("no image is left to import with the chosen skips")
            splits = assign_splits(samples, upload.split_seed, upload.split_ratios)
            items: list[DatasetItem] = []

            def store(sample: Sample) -> DatasetItem:
                return store_sample(sample, splits[sample.id], created)

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
                team = Team.objects.select_for_update().get(pk=locked.team_id)  # one quota check at a time per team
                before = quota.usage(team, exclude_upload=upload_id)
                locked.dataset = _create_dataset(locked, items)
                # the exact bytes the team gains (files it already holds cost nothing); over the quota: roll back
                after = quota.usage(team, exclude_upload=upload_id)
                quota.ensure_added_fits(before, after, what=f"the import of {locked.name}")
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
    except DatasetRejected as error:  # the team's storage quota
        outcome, reason = State.FAILED, f"The import was rolled back: {error.message}"
    except Exception as error:
        log.exception("import of dataset upload %s failed", upload_id)
        outcome = State.FAILED
        reason = public_text(f"The import failed and was rolled back: {error.__class__.__name__}: {error}", upload)
    if outcome != State.IMPORTED:
        storage.remove_unreferenced(created)
        DatasetUpload.objects.filter(pk=upload_id, state=State.IMPORTING).update(
            state=outcome, error=reason, progress_stage=str(outcome), finished_at=timezone.now()
        )
    upload = DatasetUpload.objects.filter(pk=upload_id).first()
    if upload is not None:
        discard_archive(upload)
    return upload
