"""Confirming a validated upload session: the user's choices, then the import is queued."""

from __future__ import annotations

from django.db import transaction

from kdsam_core.datasets.problems import SKIPPABLE_CHOICES
from webapp.datasets.models import DatasetUpload
from webapp.datasets.services import quota
from webapp.datasets.services.errors import DatasetRejected
from webapp.datasets.services.options import split_options
from webapp.datasets.services.queueing import enqueue_import
from webapp.datasets.services.sessions import State


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
    unknown = sorted(set(skip_codes) - set(SKIPPABLE_CHOICES))
    if unknown:
        raise DatasetRejected(
            "invalid_skip",
            f"These problems cannot be chosen to skip: {', '.join(unknown)}; "
            f"choose among {', '.join(SKIPPABLE_CHOICES)}.",
            field="skip",
        )
    seed, fractions = split_options(
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
    # what the import adds is known once it has stored the files (run_import checks it): here, whether anything fits
    quota.ensure_room(upload.team, 0, what=f"importing {upload.name}", exclude_upload=upload.pk)
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
