from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.accounts.permissions import require_role
from webapp.accounts.selectors import TRAINING_ROLES
from webapp.kdsam_studio import cache_policy
from webapp.kdsam_studio.api_errors import ApiError, ApiErrorSerializer
from webapp.registry import selectors, services
from webapp.registry.serializers import ModelVersionSerializer


class ActiveModelView(APIView):
    @extend_schema(responses={200: ModelVersionSerializer, 503: ApiErrorSerializer}, operation_id="active_model")
    def get(self, request):
        try:
            version = services.ensure_active_model_version()
        except ValueError as error:  # CheckpointError: a bad weights file, named in the message
            raise ApiError("model_unavailable", str(error), status_code=503) from error
        return Response(ModelVersionSerializer(version, context={"request": request}).data)


class ModelVersionListView(APIView):
    @extend_schema(responses=ModelVersionSerializer(many=True), operation_id="models_list")
    def get(self, request):
        """Published versions (the segmentation model picker); ``?all=1`` adds the drafts of teams you train in."""
        versions = (
            selectors.visible_model_versions if request.query_params.get("all") else selectors.published_model_versions
        )(request.user)
        versions = selectors.with_visible_evaluations(versions, request.user)
        return Response(ModelVersionSerializer(versions, many=True, context={"request": request}).data)


def _visible_or_404(request, version_id: int):
    version = selectors.visible_model_versions(request.user).filter(pk=version_id).first()
    if version is None:
        raise Http404("no such model version")
    return version


class ModelVersionDetailView(APIView):
    @extend_schema(responses={200: ModelVersionSerializer, 404: ApiErrorSerializer}, operation_id="models_retrieve")
    def get(self, request, version_id: int):
        version = _visible_or_404(request, version_id)
        return Response(ModelVersionSerializer(version, context={"request": request}).data)


class ModelVersionStateView(APIView):
    transition = "publish"

    @extend_schema(
        request=None, responses={200: ModelVersionSerializer, 403: ApiErrorSerializer, 404: ApiErrorSerializer}
    )
    def post(self, request, version_id: int):
        version = _visible_or_404(request, version_id)
        if version.team_id is None:
            if not request.user.is_staff:
                raise ApiError(
                    "forbidden",
                    "Deployment-wide model versions are managed by site staff in the admin.",
                    status_code=403,
                )
        else:
            require_role(request.user, version.team_id, TRAINING_ROLES)
        try:
            version = services.publish(version) if self.transition == "publish" else services.archive(version)
        except ValueError as error:
            raise ApiError("invalid_state", str(error)) from error
        return Response(ModelVersionSerializer(version, context={"request": request}).data)


def _serve_decoder(request, version_id: int, quantized: bool):
    version = selectors.visible_model_versions(request.user).filter(pk=version_id).first()
    field = None if version is None else (version.decoder_onnx_quantized if quantized else version.decoder_onnx)
    if not field:
        raise Http404("no such model version")
    response = FileResponse(field.open("rb"), content_type="application/octet-stream")
    cache_policy.immutable_private(response)  # private for deployment-wide versions too (cache_policy.py)
    if not quantized:
        response["ETag"] = f'"{version.decoder_sha256}"'
    return response


@login_required
def decoder_onnx(request, version_id: int):
    """The decoder ONNX of a model version: immutable, so cached for a year."""
    return _serve_decoder(request, version_id, quantized=False)


@login_required
def decoder_onnx_int8(request, version_id: int):
    return _serve_decoder(request, version_id, quantized=True)
