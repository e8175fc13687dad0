from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.registry import selectors
from webapp.registry import services as registry_services
from webapp.registry.models import Evaluation, ModelVersion


class EvaluationSerializer(serializers.ModelSerializer):
    """One team's Dice/IoU of a version on one of its datasets; shown to the team's members only."""

    team = serializers.IntegerField(source="team_id")
    dataset = serializers.IntegerField(source="dataset_id")
    dataset_name = serializers.CharField(source="dataset.name")
    job = serializers.IntegerField(source="job_id", allow_null=True)

    class Meta:
        model = Evaluation
        fields = ["id", "team", "dataset", "dataset_name", "split", "protocol", "metrics", "job", "created_at"]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer):
    banner = serializers.SerializerMethodField()
    decoder_onnx_url = serializers.SerializerMethodField()
    decoder_onnx_int8_url = serializers.SerializerMethodField()
    mask_threshold = serializers.SerializerMethodField()
    team = serializers.IntegerField(source="team_id", allow_null=True)
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    job = serializers.IntegerField(source="job_id", allow_null=True)
    evaluations = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "architecture",
            "weights",
            "state",
            "team",
            "banner",
            "decoder_onnx_url",
            "decoder_sha256",
            "decoder_onnx_int8_url",
            "image_size",
            "mask_threshold",
            "parameters",
            "metrics",
            "evaluations",
            "parent",
            "teacher",
            "training_data",
            "job",
            "is_active",
            "checkpoint_sha256",
            "created_at",
        ]
        read_only_fields = fields

    def get_banner(self, version: ModelVersion) -> str:
        return registry_services.banner(version)

    def get_decoder_onnx_url(self, version: ModelVersion) -> str:
        return reverse("model-decoder-onnx", args=[version.pk])

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_decoder_onnx_int8_url(self, version: ModelVersion) -> str | None:
        return reverse("model-decoder-onnx-int8", args=[version.pk]) if version.decoder_onnx_quantized else None

    @extend_schema_field(EvaluationSerializer(many=True))
    def get_evaluations(self, version: ModelVersion) -> list[dict]:
        """The evaluations of the requesting user's teams (none without a request in the context)."""
        evaluations = getattr(version, "visible_evaluations", None)
        if evaluations is None:
            request = self.context.get("request")
            user = getattr(request, "user", None)
            evaluations = selectors.evaluations_visible_to(user).filter(model_version=version)
        return EvaluationSerializer(evaluations, many=True).data

    def get_mask_threshold(self, version: ModelVersion) -> float:
        return 0.0
