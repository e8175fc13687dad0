"""Thin API views of jobs (``JobSubmissionError`` is an ``ApiError``: the exception handler renders it)."""

from __future__ import annotations

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.accounts.permissions import require_role
from webapp.accounts.selectors import TRAINING_ROLES
from webapp.jobs import selectors, services
from webapp.jobs.params import schemas
from webapp.jobs.runners import job_dir
from webapp.jobs.serializers import JobSerializer, JobSubmitSerializer
from webapp.kdsam_studio import cache_policy
from webapp.kdsam_studio.api_errors import ApiErrorSerializer
from webapp.kdsam_studio.api_input import query_id


def _job_or_404(request, job_id: int):
    job = selectors.job_of(request.user, job_id)
    if job is None:
        raise Http404("no such job")
    return job


class JobListView(APIView):
    @extend_schema(responses=JobSerializer(many=True), operation_id="jobs_list")
    def get(self, request):
        jobs = selectors.jobs_of(request.user)
        for key in ("state", "kind"):
            if request.query_params.get(key):
                jobs = jobs.filter(**{key: request.query_params[key]})
        if (team := query_id(request.query_params, "team")) is not None:
            jobs = jobs.filter(team_id=team)
        return Response(JobSerializer(jobs[:200], many=True).data)

    @extend_schema(
        request=JobSubmitSerializer, responses={201: JobSerializer, 400: ApiErrorSerializer}, operation_id="jobs_submit"
    )
    def post(self, request):
        body = JobSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = services.submit_job(
            request.user,
            body.validated_data["team"],
            body.validated_data["kind"],
            body.validated_data["params"],
            body.validated_data["priority"],
        )
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobSchemaView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="jobs_schemas")
    def get(self, request):
        """Parameters of every job kind with the paper's defaults (for the forms that start jobs)."""
        return Response(schemas())


class JobDetailView(APIView):
    @extend_schema(responses={200: JobSerializer, 404: ApiErrorSerializer}, operation_id="jobs_retrieve")
    def get(self, request, job_id: int):
        return Response(JobSerializer(_job_or_404(request, job_id)).data)


class JobCancelView(APIView):
    @extend_schema(
        request=None,
        responses={200: JobSerializer, 403: ApiErrorSerializer, 404: ApiErrorSerializer},
        operation_id="jobs_cancel",
    )
    def post(self, request, job_id: int):
        job = _job_or_404(request, job_id)
        require_role(request.user, job.team_id, TRAINING_ROLES)
        return Response(JobSerializer(services.cancel_job(job)).data)


class JobRetryView(APIView):
    @extend_schema(
        request=None,
        responses={200: JobSerializer, 400: ApiErrorSerializer, 404: ApiErrorSerializer},
        operation_id="jobs_retry",
    )
    def post(self, request, job_id: int):
        job = _job_or_404(request, job_id)
        require_role(request.user, job.team_id, TRAINING_ROLES)
        return Response(JobSerializer(services.retry_job(job)).data)


class JobFileView(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}, operation_id="jobs_file")
    def get(self, request, job_id: int, name: str):
        """A file the job's result lists (evaluation report, figures)."""
        job = _job_or_404(request, job_id)
        listed = {str(path) for path in (job.result.get("files") or {}).values()}
        if name not in listed:
            raise Http404("no such file")
        path = job_dir(job) / name
        if not path.is_file():
            raise Http404("file missing")
        attachment = not name.endswith((".png", ".json", ".md"))
        response = FileResponse(open(path, "rb"), as_attachment=attachment)  # noqa: SIM115 - FileResponse closes it
        return cache_policy.no_store(response)  # a retried job rewrites its files
