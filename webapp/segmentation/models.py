"""Uploaded images and their encoder embeddings."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.registry.models import ModelVersion

#: The formats a mask exports to; DICOM-SEG only for DICOM uploads (see :attr:`Image.export_formats`).
EXPORT_FORMATS = ("png", "nifti", "coco", "dicom_seg")


class Image(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        EMBEDDING = "embedding"
        READY = "ready"
        FAILED = "failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to="images/", max_length=500)
    original_filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="images")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    source_format = models.CharField(
        max_length=16, blank=True, help_text="png, jpeg, tiff, bmp or dicom (converted to PNG for display)"
    )
    dicom_file = models.FileField(
        upload_to="dicom/",
        max_length=500,
        blank=True,
        help_text="De-identified copy (allow-listed attributes only) of a DICOM upload.",
    )
    display_meta = models.JSONField(
        default=dict, blank=True, help_text="DICOM: modality, value range, window and presets."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.width}×{self.height}, {self.status})"

    @property
    def export_formats(self) -> tuple[str, ...]:
        """The formats a mask of this image exports to (DICOM-SEG only for DICOM uploads)."""
        return EXPORT_FORMATS if self.dicom_file else EXPORT_FORMATS[:3]


class Embedding(models.Model):
    """An image's encoder output for one model version, stored in the KDEM binary format."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="embeddings")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="embeddings")
    file = models.FileField(upload_to="embeddings/", max_length=500, help_text="float16 KDEM (the API's raw).")
    browser_file = models.FileField(
        upload_to="embeddings/",
        max_length=500,
        blank=True,
        help_text="The same embedding in quant8-zlib, what the browser fetches; written by the worker with file.",
    )
    dtype = models.CharField(max_length=16, default="float16")
    size_bytes = models.PositiveIntegerField()
    seconds = models.FloatField(help_text="Encoder wall time.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="one_embedding_per_image_and_model")
        ]

    def __str__(self) -> str:
        return f"embedding of image {self.image_id} by model v{self.model_version_id}"


class Mask(models.Model):
    """One labelled object segmented on an image: the binary mask, the prompts that made it, who and when."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="masks")
    label = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#1e90ff", help_text="#rrggbb")
    rle = models.JSONField(help_text='Uncompressed COCO RLE {"size": [h, w], "counts": [...]}, column-major.')
    area = models.PositiveIntegerField()
    prompts = models.JSONField(
        default=dict, blank=True, help_text='{"points": [[x, y, label]], "box": [x0, y0, x1, y1] | null}'
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="masks")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="masks")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.label} on image {self.image_id}"
