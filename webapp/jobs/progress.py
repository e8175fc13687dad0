"""Forwarding a running job's progress events to the database and the browser.

The trainers of ``kdsam_core`` call a callback with ``ProgressEvent``s; :class:`JobProgressReporter`
stores them (throttled), keeps a log tail and the per-epoch history for the loss curves, publishes
them to the job's Channels groups, refreshes the heartbeat, and stops the run (:class:`JobCancelled`)
at the next step once a cancellation was requested.
"""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from kdsam_core.training.progress import ProgressEvent
from webapp.jobs.models import Job

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 200


class JobCancelled(Exception):
    """Raised from the progress callback once a user cancelled the job.

    Deliberately not ``kdsam_core``'s ``StopTraining``: the trainers treat that one as "stop and
    finish the run" (final checkpoint, export, evaluation), while a cancelled job must end at the
    next step; its last epoch checkpoint stays for a retry to resume from.
    """


def team_group(team_id: int) -> str:
    return f"jobs.team.{team_id}"


def job_group(job_id: int) -> str:
    return f"jobs.job.{job_id}"


def publish(job: Job, message_type: str = "job.update", event: dict | None = None) -> None:
    """Push a job's state (and the latest event) to the browsers watching it (best effort)."""
    from webapp.jobs.serializers import job_payload

    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": message_type, "job": job_payload(job), "event": event}
    try:
        for group in (team_group(job.team_id), job_group(job.pk)):
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        log.exception("could not publish progress of job %s", job.pk)


def append_log(job: Job, line: str) -> None:
    stamp = timezone.now().strftime("%H:%M:%S")
    lines = ([*job.log_tail.splitlines(), f"{stamp} {line}"])[-LOG_TAIL_LINES:]
    job.log_tail = "\n".join(lines)


def describe(event: ProgressEvent) -> str:
    if event.kind == "stage":
        return f"{event.phase}: {event.extra.get('stage', '')}"
    parts = [event.phase, event.kind]
    if event.epochs:
        parts.append(f"epoch {event.epoch}/{event.epochs}")
    if event.steps:
        parts.append(f"step {event.step}/{event.steps}")
    parts += [f"{k}={v:.4g}" for k, v in event.losses.items() if isinstance(v, (int, float))]
    if event.lr is not None:
        parts.append(f"lr={event.lr:.2g}")
    if event.throughput:
        parts.append(f"{event.throughput:.2f} img/s")
    return " ".join(parts)


class JobProgressReporter:
    """The callback handed to ``kdsam_core``; ``min_interval`` throttles database writes."""

    def __init__(self, job: Job, min_interval: float = 0.5):
        self.job = job
        self.min_interval = min_interval
        self._last_write = 0.0
        self._last_cancel_check = 0.0
        self._first_epoch_seen = False

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        data = event.to_dict()
        important = event.kind in ("epoch", "stage", "done")
        if event.kind == "epoch":
            if not self._first_epoch_seen and event.epoch > 1 and self.job.attempts > 1:
                append_log(
                    self.job,
                    f"resumed from the checkpoint: attempt {self.job.attempts} continues at epoch {event.epoch}",
                )
            self._first_epoch_seen = True
            # A resumed attempt may repeat the epoch that was cut short: keep one entry per epoch.
            earlier = [entry for entry in self.job.history if entry.get("epoch", 0) < event.epoch]
            self.job.history = [*earlier, {"epoch": event.epoch, "lr": event.lr, **event.losses}]
        if event.kind == "stage":  # keep the last epoch/step figures, add what happens now
            data = {**self.job.progress, "kind": "stage", "phase": event.phase, "extra": {**event.extra}}
        if important or now - self._last_write >= self.min_interval:
            self._last_write = now
            self.job.progress = data
            self.job.heartbeat_at = timezone.now()
            if important or event.kind == "cache":
                append_log(self.job, describe(event))
            self.job.save(update_fields=["progress", "history", "heartbeat_at", "log_tail"])
            publish(self.job, "job.progress", data)
        self.check_cancelled(now)

    def restore_history(self, records: list[dict]) -> None:
        """Complete the job's history with a checkpoint's per-epoch ``records`` (see ``runners.resume_wanted``).

        Entries already stored are kept (they carry the reported learning rate); epochs after the
        checkpoint's last one are dropped, since the resumed attempt runs them again.
        """
        if not records:
            return
        last = max(int(record["epoch"]) for record in records)
        stored = {entry.get("epoch"): entry for entry in self.job.history if entry.get("epoch", 0) <= last}
        for record in records:
            epoch = int(record["epoch"])
            if epoch not in stored:
                losses = {k: v for k, v in record.items() if k not in ("epoch", "lr")}
                stored[epoch] = {"epoch": epoch, "lr": record.get("lr"), **losses}
        self.job.history = [stored[epoch] for epoch in sorted(stored)]
        self.job.save(update_fields=["history"])

    def log(self, line: str) -> None:
        append_log(self.job, line)
        self.job.save(update_fields=["log_tail"])

    def check_cancelled(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self._last_cancel_check < self.min_interval / 2:
            return
        self._last_cancel_check = now
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled(f"job {self.job.pk} was cancelled")
