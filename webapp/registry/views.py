from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.kdsam_studio.api_errors import ApiError, ApiErrorSerializer
from webapp.registry import services
from webapp.registry.models import ModelVersion
from webapp.registry.serializers import ModelVersionSerializer


class ActiveModelView(APIView):
    @extend_schema(responses={200: ModelVersionSerializer, 503: ApiErrorSerializer}, operation_id="active_model")
    def get(self, request):
        try:
            version = services.ensure_active_model_version()
        except ValueError as error:  # CheckpointError: a bad weights file, named in the message
            raise ApiError("model_unavailable", str(error), status_code=503) from error
        return Response(ModelVersionSerializer(version).data)


@login_required
def decoder_onnx(request, version_id: int):
    """The decoder ONNX of a model version: immutable, so cached for a year."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None or not version.decoder_onnx:
        raise Http404("no such model version")
    response = FileResponse(version.decoder_onnx.open("rb"), content_type="application/octet-stream")
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    response["ETag"] = f'"{version.decoder_sha256}"'
    return response
