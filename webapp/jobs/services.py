"""Submitting, running, cancelling and recovering jobs."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from kdsam_core.modeling.checkpoint import CheckpointError
from kdsam_core.training.progress import StopTraining
from webapp.accounts.permissions import require_role
from webapp.accounts.selectors import TRAINING_ROLES
from webapp.jobs.models import Job
from webapp.jobs.params import ParamsError, validate_params
from webapp.jobs.progress import JobCancelled, JobProgressReporter, append_log, publish
from webapp.kdsam_studio.api_errors import ApiError
from webapp.kdsam_studio.broker_errors import BROKER_ERRORS, queue_unavailable
from webapp.kdsam_studio.queues import queue_for_job_kind
from webapp.registry import services as registry
from webapp.registry.models import ModelVersion
from webapp.registry.selectors import visible_model_versions

log = logging.getLogger(__name__)

#: A running job's heartbeat is refreshed this often by a thread beside the run (seconds) ...
HEARTBEAT_INTERVAL = 30.0
#: ... so one older than this means its worker died and the job is orphaned.
HEARTBEAT_STALE = timedelta(minutes=3)


class JobSubmissionError(ApiError):
    """The job cannot be queued; ``message`` says what to fix (``field`` names the parameter)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(code, message, field=field)


# ---------------------------------------------------------------------------------------------
# Submission
# ---------------------------------------------------------------------------------------------


def submit_job(user, team_id: int, kind: str, raw_params: dict | None, priority: int = 0) -> Job:
    """Validate everything a run needs now (not after queueing) and queue the job.

    Checks: the user trains in the team; parameters (types, ranges); the dataset belongs to the
    team and is ready; model versions are visible to the user; teacher / ImageNet weights exist.
    """
    require_role(user, team_id, TRAINING_ROLES)
    try:
        params = validate_params(kind, raw_params)
    except ParamsError as error:
        raise JobSubmissionError("invalid_parameter", str(error), field=error.field) from error
    _check_references(user, team_id, kind, params)
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind,
            team_id=team_id,
            owner=user,
            params=params,
            queue=queue_for_job_kind(kind),
            priority=max(0, min(9, priority)),
        )
    # Queued after the commit (the task must find the row), but not in on_commit: a broker failure must undo
    # the submission instead of leaving a queued job without a task.
    try:
        enqueue(job)
    except BROKER_ERRORS:
        log.exception("could not queue job %s; the submission is undone", job.pk)
        job.delete()
        raise queue_unavailable("your job was not submitted.") from None
    publish(job)  # other open job lists show it at once
    return job


def _check_references(user, team_id: int, kind: str, params: dict) -> None:
    from webapp.datasets.models import Dataset

    if "dataset" in params:
        dataset = Dataset.objects.filter(pk=params["dataset"], team_id=team_id).first()
        if dataset is None:
            raise JobSubmissionError(
                "unknown_dataset", f"Dataset {params['dataset']} does not exist in this team.", "dataset"
            )
        if dataset.state != Dataset.State.READY:
            raise JobSubmissionError(
                "dataset_not_ready", f"Dataset '{dataset.name}' is {dataset.state}; wait until it is ready.", "dataset"
            )
    version_ids = params.get("model_versions") or ([params["model_version"]] if "model_version" in params else [])
    visible = set(visible_model_versions(user).filter(pk__in=version_ids).values_list("pk", flat=True))
    missing = [v for v in version_ids if v not in visible]
    if missing:
        field = "model_versions" if "model_versions" in params else "model_version"
        raise JobSubmissionError(
            "unknown_model_version", f"Model version {missing[0]} does not exist or is not visible to you.", field
        )
    if kind == "finetune":
        base = ModelVersion.objects.get(pk=params["model_version"])
        if base.architecture != ModelVersion.Architecture.KDSAM:
            raise JobSubmissionError(
                "unsupported_model",
                f"{base.name} is a {base.get_architecture_display()}: fine-tuning takes a KD-SAM model version.",
                "model_version",
            )
    try:
        if kind == "distill":
            registry.teacher_checkpoint(params["teacher"])
            if params["imagenet_init"]:
                registry.imagenet_resnet50_file()
        for version in ModelVersion.objects.filter(pk__in=version_ids):
            if not version.checkpoint or not version.checkpoint.storage.exists(version.checkpoint.name):
                raise registry.MissingWeights(
                    f"The weights file of {version.name} ({version.checkpoint.name}) is missing from the data dir."
                )
    except registry.MissingWeights as error:
        raise JobSubmissionError("missing_weights", str(error), "teacher" if kind == "distill" else None) from error


def enqueue(job: Job) -> None:
    from worker.job_tasks import run_job as run_job_task

    # The router sends it to its kind's queue (webapp.kdsam_studio.queues).
    # Redis priorities: 0 is served first; our priority 9 (highest) maps to 0.
    result = run_job_task.apply_async(args=[job.pk], kwargs={"kind": job.kind}, priority=9 - job.priority)
    Job.objects.filter(pk=job.pk).update(task_id=result.id or "")


# ---------------------------------------------------------------------------------------------
# Running (called by the Celery task)
# ---------------------------------------------------------------------------------------------


def worker_name() -> str:
    return f"celery@{socket.gethostname()}"


def run_job(job_id: int, worker: str | None = None) -> Job | None:
    """Run one attempt of a job; idempotent against duplicate deliveries and finished jobs.

    ``worker`` is the Celery node name (stable across restarts of the same worker), used to
    recognise this worker's orphaned jobs when it comes back.
    """
    from webapp.jobs.runners import RUNNERS

    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished:
            return job
        if job.state == Job.State.RUNNING and job.heartbeat_at and timezone.now() - job.heartbeat_at < HEARTBEAT_STALE:
            log.info("job %s is already running on %s; duplicate delivery ignored", job.pk, job.worker_host)
            return job
        if job.cancel_requested:
            _finish(job, Job.State.CANCELLED, error="Cancelled before it started.")
            return job
        if job.attempts >= job.max_attempts:
            _finish(
                job, Job.State.FAILED, error=f"Gave up after {job.attempts} attempts (the worker stopped each time)."
            )
            return job
        job.attempts += 1
        job.state = Job.State.RUNNING
        job.worker_host = worker or worker_name()
        job.started_at = job.started_at or timezone.now()
        job.heartbeat_at = timezone.now()
        append_log(job, f"attempt {job.attempts} started on {job.worker_host}")
        job.save()
    publish(job)
    reporter = JobProgressReporter(job)
    heartbeat = Heartbeat(job.pk)
    heartbeat.start()
    try:
        result = RUNNERS[job.kind](job, reporter)
    except (JobCancelled, StopTraining):
        _finish(job, Job.State.CANCELLED, error="Cancelled by a user.")
    except (registry.MissingWeights, CheckpointError, ValueError, FileNotFoundError) as error:
        _finish(job, Job.State.FAILED, error=str(error))
    except Exception as error:
        log.exception("job %s failed", job.pk)
        _finish(job, Job.State.FAILED, error=f"{type(error).__name__}: {error}")
    else:
        if Job.objects.filter(pk=job.pk, cancel_requested=True).exists():
            _finish(job, Job.State.CANCELLED, error="Cancelled by a user.", result=result)
        else:
            _finish(job, Job.State.SUCCEEDED, result=result)
    finally:
        heartbeat.stop()
    return job


class Heartbeat(threading.Thread):
    """Refreshes a running job's heartbeat even while no progress event arrives (a long epoch)."""

    def __init__(self, job_id: int, interval: float = HEARTBEAT_INTERVAL):
        super().__init__(name=f"job-{job_id}-heartbeat", daemon=True)
        self.job_id, self.interval = job_id, interval
        self._stopped = threading.Event()

    def run(self) -> None:
        from django.db import connection

        try:
            while not self._stopped.wait(self.interval):
                Job.objects.filter(pk=self.job_id, state=Job.State.RUNNING).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


def _finish(job: Job, state: str, *, result: dict | None = None, error: str = "") -> None:
    job.state = state
    job.finished_at = timezone.now()
    job.error = error
    if result is not None:
        job.result = registry._json_safe(result)
    append_log(job, f"{state}" + (f": {error}" if error else ""))
    job.save()
    publish(job)


# ---------------------------------------------------------------------------------------------
# Control
# ---------------------------------------------------------------------------------------------


def cancel_job(job: Job) -> Job:
    """Queued jobs end at once; running jobs stop at their next step (checked about twice a second)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.finished:
            return job
        job.cancel_requested = True
        if job.state == Job.State.QUEUED:
            job.state = Job.State.CANCELLED
            job.finished_at = timezone.now()
            job.error = "Cancelled before it started."
            append_log(job, "cancelled while queued")
        job.save()
    publish(job)
    return job


def retry_job(job: Job, priority: int | None = None) -> Job:
    """Queue a finished (failed/cancelled) or queued job again; it resumes from its last checkpoint."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.state == Job.State.RUNNING:
            raise JobSubmissionError("job_running", f"Job {job.pk} is running; cancel it first.")
        if job.state == Job.State.SUCCEEDED:
            raise JobSubmissionError("job_succeeded", f"Job {job.pk} already succeeded; submit a new job instead.")
        job.state = Job.State.QUEUED
        job.cancel_requested = False
        job.finished_at = None
        job.error = ""
        job.attempts = 0 if job.attempts >= job.max_attempts else job.attempts
        if priority is not None:
            job.priority = max(0, min(9, priority))
        append_log(job, f"requeued (priority {job.priority})")
        job.save()
        transaction.on_commit(lambda: enqueue(job))
    publish(job)
    return job


def recover_orphaned_jobs(this_worker: str | None = None) -> list[int]:
    """Requeue running jobs whose worker died: those of this (just started) worker, or with a stale heartbeat.

    Called when a worker starts; the next attempt resumes from the job's last epoch checkpoint.
    """
    this_worker = this_worker or worker_name()
    stale = timezone.now() - HEARTBEAT_STALE
    orphaned = Job.objects.filter(state=Job.State.RUNNING).filter(
        models_q(worker_host=this_worker) | models_q(heartbeat_at__lt=stale) | models_q(heartbeat_at__isnull=True)
    )
    recovered = []
    for job in orphaned:
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job.pk)
            if job.state != Job.State.RUNNING:
                continue
            job.state = Job.State.QUEUED
            append_log(job, f"worker {job.worker_host} stopped during attempt {job.attempts}; requeued to resume")
            job.save()
            transaction.on_commit(lambda job=job: enqueue(job))
        recovered.append(job.pk)
    return recovered


def models_q(**kwargs):
    from django.db.models import Q

    return Q(**kwargs)
