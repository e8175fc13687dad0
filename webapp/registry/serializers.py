from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from webapp.registry import services as registry_services
from webapp.registry.models import ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    banner = serializers.SerializerMethodField()
    decoder_onnx_url = serializers.SerializerMethodField()
    mask_threshold = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "weights", "banner", "decoder_onnx_url", "decoder_sha256", "image_size",
                  "mask_threshold", "parameters"]
        read_only_fields = fields

    def get_banner(self, version: ModelVersion) -> str:
        return registry_services.banner(version)

    def get_decoder_onnx_url(self, version: ModelVersion) -> str:
        return reverse("model-decoder-onnx", args=[version.pk])

    def get_mask_threshold(self, version: ModelVersion) -> float:
        return 0.0
