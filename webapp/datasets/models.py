"""Datasets of a team: one uploaded (or server-side) source, validated, then imported as items.

Files are stored once per content (``media/datasets/objects/<aa>/<sha256><ext>``) and shared by
every dataset that holds the same bytes; rows only point at them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.accounts.models import Team


class Dataset(models.Model):
    class State(models.TextChoices):
        UPLOADING = "uploading"  # chunks are arriving
        UPLOADED = "uploaded"  # the whole archive is here, validation is queued
        VALIDATING = "validating"
        AWAITING_CONFIRMATION = "awaiting_confirmation"  # report ready, waiting for the user's choice
        IMPORTING = "importing"
        READY = "ready"
        FAILED = "failed"  # blocking problems or an import error: no items, no files
        CANCELLED = "cancelled"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="datasets")
    state = models.CharField(max_length=24, choices=State.choices, default=State.UPLOADING, db_index=True)
    format = models.CharField(max_length=32, blank=True, help_text="Detected (or forced) format key.")
    requested_format = models.CharField(max_length=32, blank=True, help_text="Format forced at upload ('' = detect).")
    mask_label = models.IntegerField(null=True, blank=True)
    # the source: an uploaded archive (deleted after import) or a server-side folder (kept)
    original_filename = models.CharField(max_length=255, blank=True)
    upload_path = models.CharField(max_length=500, blank=True, help_text="Archive under the data dir while uploading/validating.")
    upload_size = models.BigIntegerField(default=0, help_text="Declared archive size in bytes.")
    upload_received = models.BigIntegerField(default=0)
    source_path = models.CharField(max_length=1000, blank=True, help_text="Server-side folder (staff imports).")
    # validation and the user's choice
    report = models.JSONField(null=True, blank=True)
    skip_codes = models.JSONField(default=list, blank=True)
    skip_samples = models.JSONField(default=list, blank=True)
    keep_duplicates = models.BooleanField(default=False)
    # split
    split_seed = models.IntegerField(default=0)
    split_ratios = models.JSONField(default=dict)
    counts = models.JSONField(default=dict, blank=True)
    # progress of the current stage (polled by the page)
    progress_stage = models.CharField(max_length=32, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class DatasetItem(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train"
        VAL = "val"
        TEST = "test"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    item_id = models.CharField(max_length=255, help_text="The image file's stem (unique in the dataset).")
    image_file = models.CharField(max_length=255, help_text="Object path relative to MEDIA_ROOT.")
    mask_file = models.CharField(max_length=255, blank=True, help_text="Binary PNG (0/255); empty when unlabelled.")
    sha256 = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the stored image file.")
    mask_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    split = models.CharField(max_length=8, choices=Split.choices, db_index=True)
    split_group = models.CharField(max_length=255)
    class_label = models.CharField(max_length=100, blank=True)
    subset = models.CharField(max_length=32, blank=True)
    negative = models.BooleanField(default=False)
    unlabelled = models.BooleanField(default=False)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    source_image = models.CharField(max_length=1000, blank=True, help_text="Path inside the source (for reference).")

    class Meta:
        ordering = ["item_id"]
        constraints = [models.UniqueConstraint(fields=["dataset", "item_id"], name="one_item_id_per_dataset")]

    def __str__(self) -> str:
        return f"{self.item_id} ({self.split})"
