from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from webapp.segmentation import selectors
from webapp.segmentation.models import Image, Mask


@extend_schema_serializer(component_name="ImageObject")
class ImageSerializer(serializers.ModelSerializer):
    filename = serializers.CharField(source="original_filename")
    model_version = serializers.IntegerField(source="model_version_id")
    file_url = serializers.SerializerMethodField()
    embedding_url = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    mask_count = serializers.SerializerMethodField()
    masks_url = serializers.SerializerMethodField()
    decoder_url = serializers.SerializerMethodField()
    display = serializers.JSONField(source="display_meta", help_text="DICOM: modality, range, window, presets")
    pixels_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "filename",
            "width",
            "height",
            "status",
            "error",
            "created_at",
            "model_version",
            "file_url",
            "embedding_url",
            "sha256",
            "queue_position",
            "mask_count",
            "masks_url",
            "decoder_url",
            "source_format",
            "display",
            "pixels_url",
        ]
        read_only_fields = fields

    def get_file_url(self, image: Image) -> str:
        return reverse("api-image-file", args=[image.pk])

    def get_embedding_url(self, image: Image) -> str:
        return reverse("api-image-embedding", args=[image.pk])

    def get_queue_position(self, image: Image) -> int | None:
        return selectors.queue_position(image)

    def get_mask_count(self, image: Image) -> int:
        count = getattr(image, "mask_count", None)
        return count if count is not None else image.masks.count()

    def get_pixels_url(self, image: Image) -> str | None:
        """Modality values (float32 KDEM) for window/level; DICOM uploads only."""
        return reverse("api-image-pixels", args=[image.pk]) if image.dicom_file else None

    def get_decoder_url(self, image: Image) -> str:
        """The multimask decoder of the image's own model version (the one its embedding belongs to)."""
        return reverse("segmentation-browser-decoder", args=[image.model_version_id])

    def get_masks_url(self, image: Image) -> str:
        return reverse("api-image-masks", args=[image.pk])


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, required=False)
    model_version = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="A published model version (GET /api/models/); the active one by default.",
    )


def image_payload(image: Image) -> dict:
    return dict(ImageSerializer(image).data)


class PromptsSerializer(serializers.Serializer):
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=3, max_length=3),
        required=False,
        default=list,
        max_length=1000,
    )
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, required=False, allow_null=True, default=None
    )


class RleSerializer(serializers.Serializer):
    size = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=2, max_length=2)
    counts = serializers.ListField(child=serializers.IntegerField(min_value=0))


@extend_schema_serializer(component_name="MaskObject")
class MaskSerializer(serializers.ModelSerializer):
    image = serializers.IntegerField(source="image_id")
    model_version = serializers.IntegerField(source="model_version_id")
    author = serializers.CharField(source="author.username")
    rle = RleSerializer()
    prompts = PromptsSerializer()
    export_urls = serializers.SerializerMethodField()

    class Meta:
        model = Mask
        fields = [
            "id",
            "image",
            "label",
            "color",
            "area",
            "rle",
            "prompts",
            "model_version",
            "author",
            "created_at",
            "updated_at",
            "export_urls",
        ]
        read_only_fields = fields

    def get_export_urls(self, mask: Mask) -> dict[str, str]:
        return {fmt: reverse("api-mask-export", args=[mask.pk, fmt]) for fmt in mask.image.export_formats}


class MaskWriteSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100)
    color = serializers.RegexField(
        r"^#[0-9a-fA-F]{6}$",
        required=False,
        default="#1e90ff",
        error_messages={"invalid": "color must be #rrggbb, e.g. #1e90ff"},
    )
    rle = RleSerializer()
    prompts = PromptsSerializer(required=False, default=dict)
