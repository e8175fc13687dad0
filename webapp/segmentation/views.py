"""Thin API views: parse the request, call a service or selector, serialise."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from kdsam_core.embedding_codec import CONTENT_TYPE as EMBEDDING_CONTENT_TYPE
from webapp.kdsam_studio.api_errors import ApiError, ApiErrorSerializer
from webapp.segmentation import selectors, services
from webapp.segmentation.serializers import ImageSerializer, ImageUploadSerializer


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

    @extend_schema(request=ImageUploadSerializer, responses={201: ImageSerializer, 400: ApiErrorSerializer}, operation_id="images_upload")
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError("missing_file", "No file was sent: post the image as multipart field 'file'.", field="file")
        try:
            image = services.upload_image(request.user, upload.name, upload.read())
        except services.UploadRejected as error:
            raise ApiError(error.code, error.message, field="file") from error
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)


class ImageDetailView(APIView):
    @extend_schema(responses={200: ImageSerializer, 404: ApiErrorSerializer}, operation_id="images_retrieve")
    def get(self, request, image_id: int):
        return Response(ImageSerializer(_image_or_404(request, image_id)).data)


class ImageFileView(APIView):
    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY}, operation_id="images_file")
    def get(self, request, image_id: int):
        image = _image_or_404(request, image_id)
        response = FileResponse(image.file.open("rb"), content_type=image.content_type)
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response


class ImageEmbeddingView(APIView):
    @extend_schema(
        responses={(200, EMBEDDING_CONTENT_TYPE): OpenApiTypes.BINARY, 404: ApiErrorSerializer, 409: OpenApiResponse(ApiErrorSerializer, description="embedding not ready")},
        operation_id="images_embedding",
    )
    def get(self, request, image_id: int):
        image = _image_or_404(request, image_id)
        embedding = selectors.embedding_for(image)
        if embedding is None:
            raise ApiError("embedding_not_ready", f"The embedding of {image.original_filename} is not ready (status: {image.status}).", status_code=409)
        response = HttpResponse(services.embedding_bytes(embedding), content_type=EMBEDDING_CONTENT_TYPE)
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response
