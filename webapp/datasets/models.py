"""Datasets of a team, and the upload sessions that create them.

A :class:`DatasetUpload` is the bookkeeping of one upload (or server-folder import): transfer, validation
report, the user's choices, progress, and why it failed. A :class:`Dataset` row exists only once an import
has succeeded: it, its items and its stored files are created together, so a failed or cancelled upload
leaves no dataset behind (only its upload session, with the report and the reason).

Files are stored once per content (``media/datasets/objects/<aa>/<sha256><ext>``) and shared by
every dataset that holds the same bytes; rows only point at them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.accounts.models import Team


class Dataset(models.Model):
    class State(models.TextChoices):
        READY = "ready"  # the only state a dataset row has: it is created by a successful import

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="datasets"
    )
    state = models.CharField(max_length=24, choices=State.choices, default=State.READY, db_index=True)
    format = models.CharField(max_length=32, blank=True, help_text="Detected (or forced) format key.")
    mask_label = models.IntegerField(null=True, blank=True)
    # the source: an uploaded archive (deleted after import) or a server-side folder (kept)
    original_filename = models.CharField(max_length=255, blank=True)
    upload_size = models.BigIntegerField(
        default=0, help_text="Size of the uploaded archive in bytes (0 for server folders)."
    )
    source_path = models.CharField(max_length=1000, blank=True, help_text="Server-side folder (staff imports).")
    # the user's choice at confirmation
    skip_codes = models.JSONField(default=list, blank=True)
    skip_samples = models.JSONField(default=list, blank=True)
    keep_duplicates = models.BooleanField(default=False)
    # split
    split_seed = models.IntegerField(default=0)
    split_ratios = models.JSONField(default=dict)
    counts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class DatasetUpload(models.Model):
    """One upload session: chunks → validation → report → confirmation → import (→ its dataset)."""

    class State(models.TextChoices):
        UPLOADING = "uploading"  # chunks are arriving
        VALIDATING = "validating"  # queued or running on the cpu queue
        AWAITING_CONFIRMATION = "awaiting_confirmation"  # report ready, waiting for the user's choice
        IMPORTING = "importing"
        IMPORTED = "imported"  # the dataset exists (``dataset``)
        FAILED = "failed"  # blocking problems or an import error: no dataset, no files
        CANCELLED = "cancelled"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="dataset_uploads")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="dataset_uploads"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=24, choices=State.choices, default=State.UPLOADING, db_index=True)
    # options given at the start
    requested_format = models.CharField(max_length=32, blank=True, help_text="Format forced at upload ('' = detect).")
    mask_label = models.IntegerField(null=True, blank=True)
    # the source: an archive staged under the data dir (deleted once settled) or a server-side folder (kept)
    original_filename = models.CharField(max_length=255, blank=True)
    upload_path = models.CharField(
        max_length=500, blank=True, help_text="Staged archive under the data dir ('' once removed)."
    )
    upload_size = models.BigIntegerField(default=0, help_text="Declared archive size in bytes.")
    upload_received = models.BigIntegerField(default=0)
    source_path = models.CharField(
        max_length=1000, blank=True, help_text="Server-side folder or archive (staff imports)."
    )
    # validation and the user's choice
    format = models.CharField(max_length=32, blank=True, help_text="Detected (or forced) format key.")
    report = models.JSONField(null=True, blank=True)
    skip_codes = models.JSONField(default=list, blank=True)
    skip_samples = models.JSONField(default=list, blank=True)
    keep_duplicates = models.BooleanField(default=False)
    split_seed = models.IntegerField(default=0)
    split_ratios = models.JSONField(default=dict)
    # progress of the current stage (polled by the page)
    progress_stage = models.CharField(max_length=32, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the upload failed or was cancelled.")
    task_id = models.CharField(max_length=64, blank=True)
    dataset = models.OneToOneField(
        Dataset,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="upload",
        help_text="The dataset the import created.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"upload {self.pk}: {self.name} ({self.state})"


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


class StoredFile(models.Model):
    """The size of one file under MEDIA_ROOT, so a team's storage is a query, not a walk over the disk.

    Keyed by the path the rows referencing the file hold (``DatasetItem.image_file``, ``Image.file``,
    ``ModelVersion.checkpoint``, …). The files are immutable (most are content-addressed), so a size is
    recorded once: when a thumbnail is made, else the first time a team's usage counts the file
    (webapp/datasets/services/quota.py; an import counts its files before its dataset is committed), and for
    the files older than this table by migration 0005. A row says nothing about who holds the file: usage
    counts the rows a team's own rows reference.
    """

    path = models.CharField(max_length=500, unique=True, help_text="Relative to MEDIA_ROOT.")
    size = models.BigIntegerField(help_text="Bytes (0 when the file was missing when it was recorded).")
    recorded_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.path} ({self.size} bytes)"
