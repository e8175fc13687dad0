"""Thin API views: parse the request, call a service or selector, serialise.

Service errors (``UploadRejected``, ``MaskRejected``, ``DicomRejected``: all ``ApiError``) are rendered by the
API's exception handler.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from kdsam_core.embedding_codec import CONTENT_TYPE as EMBEDDING_CONTENT_TYPE
from webapp.kdsam_studio import cache_policy
from webapp.kdsam_studio.api_errors import ApiError, ApiErrorSerializer
from webapp.kdsam_studio.file_delivery import media_name, stored_file_response
from webapp.kdsam_studio.parsers import JSONParser
from webapp.registry.selectors import visible_model_versions
from webapp.segmentation import selectors, services
from webapp.segmentation.browser_decoder import ensure_browser_decoder
from webapp.segmentation.models import EXPORT_FORMATS
from webapp.segmentation.serializers import ImageSerializer, ImageUploadSerializer, MaskSerializer, MaskWriteSerializer


def _image_or_404(request, image_id: int):
    image = selectors.image_of(request.user, image_id)
    if image is None:
        raise Http404("no such image")
    return image


class ImageListView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses=ImageSerializer(many=True), operation_id="images_list")
    def get(self, request):
        return Response(ImageSerializer(selectors.images_of(request.user), many=True).data)

    @extend_schema(
        request=ImageUploadSerializer,
        responses={201: ImageSerializer, 400: ApiErrorSerializer, 413: ApiErrorSerializer},
        operation_id="images_upload",
    )
    def post(self, request):
        from webapp.segmentation.privacy import uploads_allowed  # privacy mode: KDSAM_PRIVACY_MODE=required

        if not uploads_allowed():
            raise ApiError(
                "privacy_mode_required",
                "This deployment requires privacy mode: images are embedded in your browser and never uploaded.",
                field="file",
                status_code=403,
            )
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError("missing_file", "No file was sent: post the image as multipart field 'file'.", field="file")
        form = ImageUploadSerializer(data={"model_version": request.data.get("model_version") or None})
        if not form.is_valid():
            raise ApiError(
                "invalid_model_version",
                "model_version must be the id of a published model version.",
                field="model_version",
            )
        image = services.upload_image(
            request.user, upload.name, upload.read(), form.validated_data.get("model_version")
        )
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)


class ImageDetailView(APIView):
    @extend_schema(responses={200: ImageSerializer, 404: ApiErrorSerializer}, operation_id="images_retrieve")
    def get(self, request, image_id: int):
        return Response(ImageSerializer(_image_or_404(request, image_id)).data)


class ImageFileView(APIView):
    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY}, operation_id="images_file")
    def get(self, request, image_id: int):
        image = _image_or_404(request, image_id)
        return cache_policy.immutable_private(stored_file_response(image.file.name, image.content_type))


class ImageEmbeddingView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "encoding",
                str,
                enum=list(services.EMBEDDING_ENCODINGS),
                required=False,
                description="raw (stored float16, default) or quant8-zlib (per-channel uint8, zlib)",
            )
        ],
        responses={
            (200, EMBEDDING_CONTENT_TYPE): OpenApiTypes.BINARY,
            400: ApiErrorSerializer,
            404: ApiErrorSerializer,
            409: OpenApiResponse(ApiErrorSerializer, description="embedding not ready"),
        },
        operation_id="images_embedding",
    )
    def get(self, request, image_id: int):
        image = _image_or_404(request, image_id)
        embedding = selectors.embedding_for(image)
        if embedding is None:
            raise ApiError(
                "embedding_not_ready",
                f"The embedding of {image.original_filename} is not ready (status: {image.status}).",
                status_code=409,
            )
        name = services.embedding_file(embedding, request.query_params.get("encoding", "raw"))
        return cache_policy.immutable_private(stored_file_response(name, EMBEDDING_CONTENT_TYPE))


def _mask_or_404(request, mask_id: int):
    mask = selectors.mask_of(request.user, mask_id)
    if mask is None:
        raise Http404("no such mask")
    return mask


def _validated_mask_fields(request) -> dict:
    serializer = MaskWriteSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _save(request, image, mask=None):
    return services.save_mask(request.user, image, mask=mask, **_validated_mask_fields(request))


def _attachment(export: services.ExportFile) -> HttpResponse:
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return cache_policy.no_store(response)  # the mask can change under this URL


class ImageMasksView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: MaskSerializer(many=True), 404: ApiErrorSerializer}, operation_id="masks_list")
    def get(self, request, image_id: int):
        image = _image_or_404(request, image_id)
        return Response(MaskSerializer(selectors.masks_of(image), many=True).data)

    @extend_schema(
        request=MaskWriteSerializer,
        responses={201: MaskSerializer, 400: ApiErrorSerializer, 404: ApiErrorSerializer},
        operation_id="masks_create",
    )
    def post(self, request, image_id: int):
        mask = _save(request, _image_or_404(request, image_id))
        return Response(MaskSerializer(mask).data, status=status.HTTP_201_CREATED)


class MaskDetailView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: MaskSerializer, 404: ApiErrorSerializer}, operation_id="masks_retrieve")
    def get(self, request, mask_id: int):
        return Response(MaskSerializer(_mask_or_404(request, mask_id)).data)

    @extend_schema(
        request=MaskWriteSerializer,
        responses={200: MaskSerializer, 400: ApiErrorSerializer, 404: ApiErrorSerializer},
        operation_id="masks_update",
    )
    def put(self, request, mask_id: int):
        mask = _mask_or_404(request, mask_id)
        return Response(MaskSerializer(_save(request, mask.image, mask)).data)

    @extend_schema(responses={204: None, 404: ApiErrorSerializer}, operation_id="masks_delete")
    def delete(self, request, mask_id: int):
        services.delete_mask(_mask_or_404(request, mask_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MaskExportView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(EXPORT_FORMATS))],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            400: ApiErrorSerializer,
            404: ApiErrorSerializer,
        },
        operation_id="masks_export",
    )
    def get(self, request, mask_id: int, fmt: str):
        return _attachment(services.export_mask(_mask_or_404(request, mask_id), fmt))


class ImageMasksExportView(APIView):
    @extend_schema(
        responses={(200, "application/json"): OpenApiTypes.BINARY, 400: ApiErrorSerializer, 404: ApiErrorSerializer},
        operation_id="masks_export_coco",
    )
    def get(self, request, image_id: int):
        return _attachment(services.export_image_masks(_image_or_404(request, image_id)))


@extend_schema(exclude=True)
@login_required
def browser_decoder(request, version_id: int):
    """The multimask decoder ONNX of a model version (see browser_decoder.py); immutable per version.

    Only for a version the user may see (the registry's ``/api/models/<id>/`` rule): any other id is a
    404, like one that does not exist, and is never exported.
    """
    version = visible_model_versions(request.user).filter(pk=version_id).first()
    if version is None:
        raise Http404("no such model version")
    name = media_name(ensure_browser_decoder(version))
    response = stored_file_response(name, "application/octet-stream")
    return cache_policy.immutable_private(response)


class ImagePixelsView(APIView):
    @extend_schema(
        responses={
            (200, EMBEDDING_CONTENT_TYPE): OpenApiTypes.BINARY,
            400: ApiErrorSerializer,
            404: ApiErrorSerializer,
        },
        operation_id="images_pixels",
    )
    def get(self, request, image_id: int):
        payload = services.modality_pixels(_image_or_404(request, image_id))
        response = HttpResponse(payload, content_type=EMBEDDING_CONTENT_TYPE)
        return cache_policy.immutable_private(response)
