"""Queued runs of the method's phases: distillation, fine-tuning, evaluation, export, embedding."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Kind(models.TextChoices):
        DISTILL = "distill", "encoder distillation (phase 1)"
        FINETUNE = "finetune", "decoder fine-tuning (phase 2)"
        EVALUATE = "evaluate", "evaluation"
        EXPORT = "export", "ONNX export"
        EMBED = "embed", "precompute embeddings"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="jobs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="jobs")
    params = models.JSONField(default=dict, help_text="Validated parameters, defaults filled in.")
    queue = models.CharField(max_length=16, default="gpu")
    priority = models.SmallIntegerField(default=0, help_text="Higher runs first (0–9).")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    progress = models.JSONField(default=dict, blank=True, help_text="Latest progress event.")
    history = models.JSONField(default=list, blank=True, help_text="One entry per finished epoch (losses, lr).")
    log_tail = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.state})"
