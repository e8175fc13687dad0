from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from webapp.jobs import selectors
from webapp.jobs.models import Job
from webapp.kdsam_studio.api_input import IdField


@extend_schema_serializer(component_name="JobObject")
class JobSerializer(serializers.ModelSerializer):
    team = serializers.IntegerField(source="team_id")
    owner = serializers.CharField(source="owner.username", default="")
    queue_position = serializers.SerializerMethodField()
    model_versions = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "team",
            "owner",
            "params",
            "queue",
            "priority",
            "state",
            "cancel_requested",
            "queue_position",
            "progress",
            "history",
            "log_tail",
            "result",
            "error",
            "worker_host",
            "attempts",
            "max_attempts",
            "created_at",
            "started_at",
            "finished_at",
            "model_versions",
        ]
        read_only_fields = fields

    def get_queue_position(self, job: Job) -> int | None:
        return selectors.queue_position(job)

    def get_model_versions(self, job: Job) -> list[int]:
        return list(job.model_versions.values_list("pk", flat=True))


class JobSubmitSerializer(serializers.Serializer):
    team = IdField()
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    params = serializers.DictField(required=False, default=dict)
    priority = serializers.IntegerField(required=False, default=0, min_value=0, max_value=9)


def job_payload(job: Job) -> dict:
    return dict(JobSerializer(job).data)
