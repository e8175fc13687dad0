"""Model versions: a KD-SAM checkpoint and the decoder ONNX exported from it."""

from __future__ import annotations

from django.db import models


class ModelVersion(models.Model):
    class Weights(models.TextChoices):
        TRAINED = "trained", "trained weights"
        RANDOM = "random", "random initialisation"

    name = models.CharField(max_length=200)
    weights = models.CharField(max_length=16, choices=Weights.choices)
    #: The KD-SAM checkpoint (kdsam_core format), relative to MEDIA_ROOT.
    checkpoint = models.FileField(upload_to="models/", max_length=500)
    checkpoint_sha256 = models.CharField(max_length=64)
    #: Where the weights came from (a file under KDSAM_WEIGHTS_DIR, or "random-init seed 0").
    source = models.CharField(max_length=500, blank=True)
    decoder_onnx = models.FileField(upload_to="models/", max_length=500)
    decoder_sha256 = models.CharField(max_length=64)
    image_size = models.PositiveIntegerField(default=1024)
    parameters = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False, help_text="The version the segmentation UI uses.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model_version"),
        ]

    def source_sha256(self) -> str:
        """SHA-256 of the weights file this version was made from ("" for random init)."""
        return str(self.metadata.get("source_sha256", ""))

    def __str__(self) -> str:
        return f"{self.name} (v{self.pk}, {self.weights})"
