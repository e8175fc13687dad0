from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kdsam_core.datasets import FORMAT_KEYS, PROBLEM_CODES
from kdsam_core.datasets.problems import CHOICE_FIELDS, SKIPPABLE_CHOICES
from webapp.datasets.models import Dataset, DatasetItem, DatasetUpload
from webapp.kdsam_studio.api_input import DbIntegerField, IdField


class RatiosSerializer(serializers.Serializer):
    train = serializers.FloatField(min_value=0)
    val = serializers.FloatField(min_value=0)
    test = serializers.FloatField(min_value=0)


class ProgressSerializer(serializers.Serializer):
    stage = serializers.CharField(source="progress_stage")
    done = serializers.IntegerField(source="progress_done")
    total = serializers.IntegerField(source="progress_total")


class SplitCountsSerializer(serializers.Serializer):
    train = serializers.IntegerField()
    val = serializers.IntegerField()
    test = serializers.IntegerField()


class DatasetCountsSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    pairs = serializers.IntegerField()
    unlabelled = serializers.IntegerField()
    negatives = serializers.IntegerField()
    groups = serializers.IntegerField()
    splits = SplitCountsSerializer()
    classes = serializers.DictField(child=serializers.IntegerField())
    split_classes = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))


def _staff_only_source(serializer, data: dict) -> dict:
    request = serializer.context.get("request")
    if not (request and getattr(request.user, "is_staff", False)):
        data["source_path"] = ""
    return data


class DatasetSerializer(serializers.ModelSerializer):
    """A dataset: it exists only once its import succeeded (``state`` is always ``ready``)."""

    team_name = serializers.CharField(source="team.name", read_only=True)
    created_by = serializers.SerializerMethodField()
    split_ratios = RatiosSerializer()
    counts = serializers.SerializerMethodField()
    upload = serializers.SerializerMethodField(
        help_text="The upload session that created it (null once that record is deleted)."
    )
    report_url = serializers.SerializerMethodField()
    items_url = serializers.SerializerMethodField()
    skip_codes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "team",
            "team_name",
            "name",
            "description",
            "state",
            "format",
            "original_filename",
            "upload_size",
            "source_path",
            "created_by",
            "created_at",
            "updated_at",
            "split_seed",
            "split_ratios",
            "counts",
            "skip_codes",
            "keep_duplicates",
            "upload",
            "report_url",
            "items_url",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        return _staff_only_source(self, super().to_representation(instance))

    @extend_schema_field(DatasetCountsSerializer(allow_null=True))
    def get_counts(self, obj):
        return obj.counts or None

    def get_created_by(self, obj) -> str:
        return obj.created_by.username if obj.created_by else ""

    def get_upload(self, obj) -> int | None:
        try:
            return obj.upload.pk
        except DatasetUpload.DoesNotExist:
            return None

    def get_report_url(self, obj) -> str:
        return reverse("api-dataset-report", args=[obj.pk])

    def get_items_url(self, obj) -> str:
        return reverse("api-dataset-items", args=[obj.pk])


class DatasetUploadSerializer(serializers.ModelSerializer):
    """An upload session: transfer, validation, report, confirmation, import. ``dataset`` is set once imported."""

    team_name = serializers.CharField(source="team.name", read_only=True)
    created_by = serializers.SerializerMethodField()
    progress = ProgressSerializer(source="*")
    split_ratios = RatiosSerializer()
    skip_codes = serializers.ListField(child=serializers.CharField(), read_only=True)
    upload_url = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()
    dataset_url = serializers.SerializerMethodField()

    class Meta:
        model = DatasetUpload
        fields = [
            "id",
            "team",
            "team_name",
            "name",
            "description",
            "state",
            "format",
            "original_filename",
            "upload_size",
            "upload_received",
            "source_path",
            "created_by",
            "created_at",
            "updated_at",
            "finished_at",
            "error",
            "progress",
            "split_seed",
            "split_ratios",
            "skip_codes",
            "keep_duplicates",
            "dataset",
            "upload_url",
            "report_url",
            "dataset_url",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        return _staff_only_source(self, super().to_representation(instance))

    def get_created_by(self, obj) -> str:
        return obj.created_by.username if obj.created_by else ""

    def get_upload_url(self, obj) -> str:
        return reverse("api-dataset-upload-chunk", args=[obj.pk])

    def get_report_url(self, obj) -> str:
        return reverse("api-dataset-upload-report", args=[obj.pk])

    def get_dataset_url(self, obj) -> str | None:
        return reverse("api-dataset", args=[obj.dataset_id]) if obj.dataset_id else None


class DatasetCreateSerializer(serializers.Serializer):
    """Start a chunked upload: the archive's name and size; then PUT its bytes to ``upload_url``."""

    team = IdField()
    name = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    description = serializers.CharField(allow_blank=True, required=False, default="", max_length=5000)
    filename = serializers.CharField(max_length=255)
    size = serializers.IntegerField(min_value=1)
    format = serializers.ChoiceField(choices=["", *list(FORMAT_KEYS)], required=False, default="")
    mask_label = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=65535)
    seed = DbIntegerField(required=False, default=None, allow_null=True)
    ratios = RatiosSerializer(required=False, default=None, allow_null=True)


class FolderImportSerializer(serializers.Serializer):
    """Staff only: read a dataset folder or archive that is already on the server."""

    team = IdField()
    name = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    description = serializers.CharField(allow_blank=True, required=False, default="", max_length=5000)
    path = serializers.CharField(max_length=1000)
    format = serializers.ChoiceField(choices=["", *list(FORMAT_KEYS)], required=False, default="")
    mask_label = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=65535)
    seed = DbIntegerField(required=False, default=None, allow_null=True)
    ratios = RatiosSerializer(required=False, default=None, allow_null=True)


class ConfirmSerializer(serializers.Serializer):
    skip = serializers.ListField(
        child=serializers.ChoiceField(choices=list(SKIPPABLE_CHOICES)),
        required=False,
        default=list,
        help_text="Problem codes whose samples are skipped instead of the default action.",
    )
    skip_samples = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, default=list, help_text="Sample ids to leave out."
    )
    keep_duplicates = serializers.BooleanField(
        required=False, default=False, help_text="Import later copies of duplicate images too."
    )
    seed = DbIntegerField(required=False, default=None, allow_null=True)
    ratios = RatiosSerializer(required=False, default=None, allow_null=True)


class ProblemSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=list(PROBLEM_CODES))
    path = serializers.CharField()
    message = serializers.CharField()
    blocking = serializers.BooleanField()
    skippable = serializers.BooleanField()
    action = serializers.CharField()
    sample_id = serializers.CharField(allow_null=True)


class ImageSizeRangeSerializer(serializers.Serializer):
    min_width = serializers.IntegerField()
    max_width = serializers.IntegerField()
    min_height = serializers.IntegerField()
    max_height = serializers.IntegerField()


class ValidationReportSerializer(serializers.Serializer):
    """kdsam_core's DatasetReport (docs/datasets.md)."""

    source = serializers.CharField()
    archive = serializers.BooleanField()
    format = serializers.CharField(allow_null=True)
    format_title = serializers.CharField(allow_null=True)
    root = serializers.CharField(allow_null=True)
    importable = serializers.BooleanField()
    images = serializers.IntegerField()
    pairs = serializers.IntegerField()
    unlabelled = serializers.IntegerField()
    negatives = serializers.IntegerField()
    skipped = serializers.IntegerField()
    groups = serializers.IntegerField()
    class_counts = serializers.DictField(child=serializers.IntegerField())
    subset_counts = serializers.DictField(child=serializers.IntegerField())
    image_size = ImageSizeRangeSerializer(allow_null=True)
    image_modes = serializers.DictField(child=serializers.IntegerField())
    problem_counts = serializers.DictField(child=serializers.IntegerField())
    blocking_problems = serializers.IntegerField()
    problems = ProblemSerializer(many=True)


class SkipChoiceSerializer(serializers.Serializer):
    code = serializers.CharField()
    count = serializers.IntegerField()
    default = serializers.CharField(help_text="What happens without a choice.")
    alternative = serializers.CharField(help_text="What choosing it does.")
    field = serializers.ChoiceField(
        choices=list(CHOICE_FIELDS), help_text="The confirm field that selects the alternative."
    )


class DatasetReportSerializer(serializers.Serializer):
    """The validation report of an upload session (or of the upload a dataset was imported from)."""

    id = serializers.IntegerField(help_text="The upload session's id (the dataset's for /api/datasets/{id}/report/).")
    state = serializers.CharField()
    error = serializers.CharField()
    report = ValidationReportSerializer(allow_null=True)
    choices = SkipChoiceSerializer(many=True)


class DatasetItemSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    mask_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    mask_thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = DatasetItem
        fields = [
            "id",
            "item_id",
            "split",
            "split_group",
            "class_label",
            "subset",
            "negative",
            "unlabelled",
            "width",
            "height",
            "sha256",
            "image_url",
            "mask_url",
            "thumbnail_url",
            "mask_thumbnail_url",
        ]
        read_only_fields = fields

    def _url(self, obj, name) -> str:
        return reverse(name, args=[obj.dataset_id, obj.pk])

    def get_image_url(self, obj) -> str:
        return self._url(obj, "api-dataset-item-image")

    def get_mask_url(self, obj) -> str | None:
        return self._url(obj, "api-dataset-item-mask") if obj.mask_file else None

    def get_thumbnail_url(self, obj) -> str:
        return self._url(obj, "api-dataset-item-thumbnail")

    def get_mask_thumbnail_url(self, obj) -> str | None:
        return self._url(obj, "api-dataset-item-mask-thumbnail") if obj.mask_file else None


class DatasetItemPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    results = DatasetItemSerializer(many=True)


class TeamStorageSerializer(serializers.Serializer):
    """A team's stored bytes and its storage quota (webapp/datasets/services/quota.py says what counts)."""

    team = serializers.IntegerField(source="team.pk")
    team_name = serializers.CharField(source="team.name")
    used_bytes = serializers.IntegerField(source="used", help_text="datasets + images + models + uploads.")
    quota_bytes = serializers.IntegerField(source="quota", allow_null=True, help_text="null = unlimited.")
    remaining_bytes = serializers.IntegerField(
        source="remaining", allow_null=True, help_text="What still fits (0 when over the quota); null = unlimited."
    )
    quota_source = serializers.ChoiceField(
        choices=["team", "default"],
        help_text="team: the team's own quota (Django admin); default: KDSAM_TEAM_STORAGE_QUOTA_GB.",
    )
    datasets_bytes = serializers.IntegerField(
        source="parts.datasets", help_text="Images, masks and thumbnails of the team's datasets."
    )
    images_bytes = serializers.IntegerField(
        source="parts.images", help_text="Images the team's members uploaded (with DICOM copies and embeddings)."
    )
    models_bytes = serializers.IntegerField(source="parts.models", help_text="Files of the team's model versions.")
    uploads_bytes = serializers.IntegerField(
        source="parts.uploads", help_text="Declared sizes of unfinished uploads (reserved until settled)."
    )
