"""Validating an upload session: extract, detect, read and check every sample; store the report."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kdsam_core.datasets import open_dataset
from kdsam_core.datasets.problems import describe_blocking
from kdsam_core.datasets.validate import default_workers, find_duplicates, safe_check_sample
from webapp.datasets import conf
from webapp.datasets.models import DatasetUpload
from webapp.datasets.services.sessions import Progress, State, discard_archive, source_of

log = logging.getLogger(__name__)


def check_all(opened, progress: Progress, stage: str):
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


def _server_folders() -> list[str]:
    """The server folders no message may show (extraction folder, media root, data dir), longest first."""
    folders = {conf.tmp_dir(), conf.media_root(), settings.STUDIO.data_dir}
    names = {str(p) for p in folders} | {str(p.resolve()) for p in folders}
    return sorted((name for name in names if len(name) > 1), key=len, reverse=True)


def public_text(text: str, upload: DatasetUpload) -> str:
    """``text`` as the user may read it: the source named as its user did (not by its server path or staged
    file name ``<uuid>.zip``), and any file inside a server folder named relative to it (an extraction
    folder's files relative to the dataset), never by an absolute server path."""
    if upload.upload_path or upload.source_path:
        source = source_of(upload)
        text = text.replace(str(source), upload.original_filename)
        if upload.upload_path:  # a staged upload (a server folder or archive keeps its own name)
            text = text.replace(source.name, upload.original_filename)
    for folder in _server_folders():
        text = re.sub(re.escape(folder) + r"(?:/kdsam-dataset-[^/\s'\"]*)?/?", "", text)
    return text


def _public_report(report: dict, upload: DatasetUpload) -> dict:
    report = dict(report)
    report["source"] = upload.original_filename  # never the server path of the upload
    report["limits"] = {**report.get("limits", {}), "temp_dir": None}
    report["problems"] = [
        {**problem, "path": public_text(problem["path"], upload), "message": public_text(problem["message"], upload)}
        for problem in report.get("problems", [])
    ]
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
            source_of(upload), conf.limits(), format=upload.requested_format or None, mask_label=upload.mask_label
        ) as opened:
            progress("checking", force=True)
            check_all(opened, progress, "checking")
            report = _public_report(opened.report().to_dict(), upload)
            blocking = public_text(describe_blocking(opened.problems), upload)
    except Exception as error:
        log.exception("validation of dataset upload %s failed", upload_id)
        report = None
        blocking = public_text(f"The dataset could not be read: {error.__class__.__name__}: {error}", upload)
    with transaction.atomic():
        upload = DatasetUpload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None or upload.state != State.VALIDATING:  # cancelled or deleted meanwhile
            if upload is not None:
                discard_archive(upload)
            return upload
        upload.report = report
        upload.format = (report or {}).get("format") or ""
        if report is not None and report["importable"]:
            upload.state = State.AWAITING_CONFIRMATION
        else:
            upload.state = State.FAILED
            upload.error = blocking or "No usable image was found."
            upload.finished_at = timezone.now()
            discard_archive(upload)
        upload.progress_stage = "validated"
        upload.save()
    return upload
