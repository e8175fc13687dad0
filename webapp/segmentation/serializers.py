from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from webapp.segmentation import selectors
from webapp.segmentation.models import Image


@extend_schema_serializer(component_name="ImageObject")
class ImageSerializer(serializers.ModelSerializer):
    filename = serializers.CharField(source="original_filename")
    model_version = serializers.IntegerField(source="model_version_id")
    file_url = serializers.SerializerMethodField()
    embedding_url = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "filename", "width", "height", "status", "error", "created_at", "model_version",
                  "file_url", "embedding_url", "sha256", "queue_position"]
        read_only_fields = fields

    def get_file_url(self, image: Image) -> str:
        return reverse("api-image-file", args=[image.pk])

    def get_embedding_url(self, image: Image) -> str:
        return reverse("api-image-embedding", args=[image.pk])

    def get_queue_position(self, image: Image) -> int | None:
        return selectors.queue_position(image)


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)


def image_payload(image: Image) -> dict:
    return dict(ImageSerializer(image).data)
