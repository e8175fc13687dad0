"""Model versions: weights of a SAM-like model and the decoder ONNX exported from them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kdsam_core.modeling import registry


class ModelVersion(models.Model):
    class Weights(models.TextChoices):
        TRAINED = "trained", "trained weights"
        RANDOM = "random", "random initialisation"

    class State(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"
        ARCHIVED = "archived"

    #: The KD-SAM student and every teacher of kdsam_core's registry: members ``KDSAM``, ``SAM_VIT_H``,
    #: ``SAM_VIT_L``, ``SAM_VIT_B``, ``MOBILESAM``, ``TINY_TEACHER`` (the model name in capitals).
    Architecture = models.TextChoices(
        "Architecture",
        [(value.upper(), (value, label)) for value, label in registry.architecture_choices()],
        module=__name__,
        qualname="ModelVersion.Architecture",
    )

    name = models.CharField(max_length=200)
    architecture = models.CharField(max_length=32, choices=Architecture.choices, default=Architecture.KDSAM)
    weights = models.CharField(max_length=16, choices=Weights.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PUBLISHED, db_index=True)
    #: Owning team; ``None`` for deployment-wide versions (the default model, imported official checkpoints).
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="model_versions"
    )
    #: The weights: a KD-SAM checkpoint (kdsam_core format) or an official SAM/MobileSAM file, under MEDIA_ROOT.
    checkpoint = models.FileField(upload_to="models/", max_length=500)
    checkpoint_sha256 = models.CharField(max_length=64)
    #: Where the weights came from (a file under KDSAM_WEIGHTS_DIR, an imported file, a job).
    source = models.CharField(max_length=500, blank=True)
    decoder_onnx = models.FileField(upload_to="models/", max_length=500)
    decoder_sha256 = models.CharField(max_length=64)
    decoder_onnx_quantized = models.FileField(upload_to="models/", max_length=500, blank=True)
    image_size = models.PositiveIntegerField(default=1024)
    parameters = models.JSONField(default=dict)
    #: What the version's own training job recorded (``{"distillation": {best_val_loss, best_epoch}}``).
    #: Results on a dataset are :class:`Evaluation` rows, private to the team that ran them.
    metrics = models.JSONField(default=dict, blank=True, help_text="Training metrics of the job that made it.")
    metadata = models.JSONField(default=dict, blank=True)
    # lineage
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    teacher = models.CharField(max_length=32, blank=True)
    #: The data it was trained on: {"dataset": id, "dataset_name": ..., "split": ..., "items": n}.
    training_data = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions")
    is_active = models.BooleanField(default=False, help_text="The deployment's default model for new images.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model_version"
            ),
        ]

    def source_sha256(self) -> str:
        """SHA-256 of the weights file this version was made from ("" for random init)."""
        return str(self.metadata.get("source_sha256", ""))

    def __str__(self) -> str:
        return f"{self.name} (v{self.pk}, {self.weights})"


class Evaluation(models.Model):
    """Dice/IoU of one model version on one team dataset, as one job measured them.

    Private to the team: a team's evaluation of a deployment-wide version is shown to its members
    only (``selectors.evaluations_visible_to``); jobs never write results onto the version itself.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="evaluations")
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="evaluations")
    #: The evaluate job (or the fine-tuning job's validation); ``None`` once that job is deleted.
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations")
    split = models.CharField(max_length=16)
    #: The prompt protocol: ``PromptConfig.to_dict()`` of an evaluate job, a description for fine-tuning.
    protocol = models.JSONField(default=dict, blank=True)
    #: ``{"dice": summary, "iou": summary}`` (``kdsam_core.evaluation.metrics.summarize``).
    metrics = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "model_version"], name="one_evaluation_per_job_and_version"),
        ]

    def __str__(self) -> str:
        return f"evaluation of v{self.model_version_id} on dataset {self.dataset_id} (team {self.team_id})"
