"""Privacy mode: the student encoder runs in the browser, so image pixels never reach the server.

``KDSAM_PRIVACY_MODE`` (``webapp.kdsam_studio.config``): ``off`` (every image is uploaded),
``optional`` (default: each user chooses in the UI, remembered in the browser's localStorage) or
``required`` (the app never uploads pixels and ``POST /api/images/`` is refused).

Endpoints:

* ``GET /api/privacy/`` — the deployment's mode and, for the active (or ``?model_version=``) model,
  the URL and version key of its browser encoder.
* ``GET /segmentation/encoders/<version>/encoder.onnx`` — the KD-SAM student encoder of a model
  version the user may segment with (published to the deployment or their team, or the active one),
  exported once per version (``registry.services.encoder_onnx_path``, shared with the worker) and
  served immutable: the URL carries the checkpoint hash, so a new checkpoint is a new URL.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.kdsam_studio import cache_policy
from webapp.kdsam_studio.api_errors import ApiError, ApiErrorSerializer
from webapp.kdsam_studio.file_delivery import media_name, stored_file_response
from webapp.registry import selectors as registry_selectors
from webapp.registry import services as registry_services
from webapp.registry.models import ModelVersion

PRIVACY_MODES = ("off", "optional", "required")
#: What the browser can decode itself (TIFF and DICOM need the server's converters).
BROWSER_FORMATS = ["png", "jpeg", "bmp"]


def privacy_mode() -> str:
    return settings.STUDIO.privacy_mode


def uploads_allowed() -> bool:
    """False when the deployment requires privacy mode: no image pixels may be uploaded."""
    return privacy_mode() != "required"


def encoder_version_key(version: ModelVersion) -> str:
    """Keys the browser's cached encoder and embeddings: model version id + checkpoint hash prefix."""
    return f"{version.pk}-{(version.checkpoint_sha256 or 'none')[:16]}"


def _segmentable_version_or_404(user, version_id: int) -> ModelVersion:
    version = registry_selectors.published_model_versions(user).filter(pk=version_id).first()
    if version is None or version.architecture != ModelVersion.Architecture.KDSAM or not version.checkpoint:
        raise Http404("no such KD-SAM model version")
    return version


def encoder_url(version: ModelVersion) -> str:
    return f"/segmentation/encoders/{version.pk}/encoder.onnx?v={encoder_version_key(version)}"


PrivacyConfigSerializer = inline_serializer(
    "PrivacyConfig",
    fields={
        "mode": serializers.ChoiceField(choices=PRIVACY_MODES),
        "uploads_allowed": serializers.BooleanField(),
        "model_version": serializers.IntegerField(allow_null=True),
        "encoder_url": serializers.CharField(allow_null=True),
        "encoder_version": serializers.CharField(allow_null=True),
        "browser_formats": serializers.ListField(child=serializers.CharField()),
    },
)


class PrivacyConfigView(APIView):
    @extend_schema(responses={200: PrivacyConfigSerializer, 404: ApiErrorSerializer}, operation_id="privacy_config")
    def get(self, request):
        """The privacy-mode setting and the browser encoder of the active (or ``?model_version=``) model."""
        version = None
        requested = request.query_params.get("model_version")
        if requested:
            try:
                version = _segmentable_version_or_404(request.user, int(requested))
            except (ValueError, Http404) as error:
                raise ApiError(
                    "unknown_model_version",
                    "model_version must be a KD-SAM model version you may segment with.",
                    field="model_version",
                    status_code=404,
                ) from error
        elif privacy_mode() != "off":
            active = registry_selectors.active_model_version()
            if active is not None and active.architecture == ModelVersion.Architecture.KDSAM:
                version = active
        return Response(
            {
                "mode": privacy_mode(),
                "uploads_allowed": uploads_allowed(),
                "model_version": version.pk if version else None,
                "encoder_url": encoder_url(version) if version and privacy_mode() != "off" else None,
                "encoder_version": encoder_version_key(version) if version else None,
                "browser_formats": BROWSER_FORMATS,
            }
        )


@extend_schema(exclude=True)
@login_required
def browser_encoder(request, version_id: int):
    """The student encoder ONNX of a model version (input: SAM-preprocessed 1×3×1024×1024 float32)."""
    if privacy_mode() == "off":
        raise Http404("privacy mode is off on this deployment")
    version = _segmentable_version_or_404(request.user, version_id)
    name = media_name(registry_services.encoder_onnx_path(version))
    response = stored_file_response(name, "application/octet-stream")
    cache_policy.immutable_private(response)
    response["ETag"] = f'"{encoder_version_key(version)}"'
    return response
