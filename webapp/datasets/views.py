"""Thin API views of datasets and their upload sessions.

Each parses, checks the team role, calls a service or selector and serialises; service errors
(:class:`~webapp.datasets.services.DatasetRejected`) are rendered by the API's exception handler.
"""

from __future__ import annotations

import mimetypes

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from kdsam_core.datasets.problems import choices_for
from webapp.accounts.permissions import require_role
from webapp.accounts.selectors import TRAINING_ROLES, teams_of
from webapp.datasets import conf, selectors, services, storage
from webapp.datasets.models import Dataset, DatasetItem, DatasetUpload
from webapp.datasets.serializers import (
    ConfirmSerializer,
    DatasetCreateSerializer,
    DatasetItemPageSerializer,
    DatasetItemSerializer,
    DatasetReportSerializer,
    DatasetSerializer,
    DatasetUploadSerializer,
    FolderImportSerializer,
    TeamStorageSerializer,
)
from webapp.datasets.services import quota
from webapp.kdsam_studio import cache_policy
from webapp.kdsam_studio.api_errors import ApiError, ApiErrorSerializer
from webapp.kdsam_studio.api_input import query_id, query_int
from webapp.kdsam_studio.pagination import paginate
from webapp.kdsam_studio.parsers import JSONParser

ERRORS = {400: ApiErrorSerializer, 403: ApiErrorSerializer, 404: ApiErrorSerializer}


class RawBodyParser(BaseParser):
    """Declares the raw chunk body; the view streams it itself (never through request.data)."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):  # pragma: no cover - not used
        return stream


def _dataset_or_404(request, dataset_id: int, *, write: bool = False) -> Dataset:
    dataset = selectors.dataset_of(request.user, dataset_id)
    if dataset is None:
        raise Http404("no such dataset")
    if write:
        require_role(request.user, dataset.team_id, TRAINING_ROLES)
    return dataset


def _upload_or_404(request, upload_id: int, *, write: bool = False) -> DatasetUpload:
    upload = selectors.upload_of(request.user, upload_id)
    if upload is None:
        raise Http404("no such upload")
    if write:
        require_role(request.user, upload.team_id, TRAINING_ROLES)
    return upload


def _ratios(value):
    return dict(value) if value else None


def _upload_response(request, upload: DatasetUpload, code: int = status.HTTP_200_OK) -> Response:
    return Response(DatasetUploadSerializer(upload, context={"request": request}).data, status=code)


def _create_upload(request) -> Response:
    serializer = DatasetCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    require_role(request.user, data["team"], TRAINING_ROLES)
    upload = services.create_upload(
        request.user,
        data["team"],
        name=data["name"],
        description=data["description"],
        filename=data["filename"],
        size=data["size"],
        format=data["format"],
        mask_label=data["mask_label"],
        seed=data["seed"],
        ratios=_ratios(data["ratios"]),
    )
    return _upload_response(request, upload, status.HTTP_201_CREATED)


_CREATE = {
    "request": DatasetCreateSerializer,
    "responses": {201: DatasetUploadSerializer, **ERRORS, 413: ApiErrorSerializer, 507: ApiErrorSerializer},
}


class DatasetListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        responses=DatasetSerializer(many=True),
        operation_id="datasets_list",
        parameters=[OpenApiParameter("team", int, required=False), OpenApiParameter("state", str, required=False)],
    )
    def get(self, request):
        datasets = selectors.datasets_of(request.user)
        if (team := query_id(request.query_params, "team")) is not None:
            datasets = datasets.filter(team_id=team)
        if state := request.query_params.get("state"):
            datasets = datasets.filter(state=state)
        return Response(DatasetSerializer(datasets, many=True, context={"request": request}).data)

    @extend_schema(
        **_CREATE,
        operation_id="datasets_create_upload_legacy",
        deprecated=True,
        description="Kept for older clients: the same as POST /api/datasets/uploads/ (answers the upload session).",
    )
    def post(self, request):
        return _create_upload(request)


class TeamStorageView(APIView):
    @extend_schema(
        responses={200: TeamStorageSerializer(many=True), 404: ApiErrorSerializer},
        operation_id="datasets_storage",
        parameters=[OpenApiParameter("team", int, required=False, description="Only this team (404 unless a member).")],
        description="Stored bytes and storage quota of each of your teams (any role). What counts, how shared files "
        "count and where uploads are refused (413 team_quota_exceeded): docs/api-datasets.md#storage-quota.",
    )
    def get(self, request):
        teams = teams_of(request.user).order_by("name")
        if (team := query_id(request.query_params, "team")) is not None:
            teams = teams.filter(pk=team)
            if not teams.exists():
                raise Http404("no such team")
        return Response(TeamStorageSerializer([quota.usage(t) for t in teams], many=True).data)


class DatasetUploadListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        responses=DatasetUploadSerializer(many=True),
        operation_id="datasets_uploads_list",
        parameters=[
            OpenApiParameter("team", int, required=False),
            OpenApiParameter("state", str, required=False),
            OpenApiParameter("limit", int, required=False, description="At most this many (default 50, ≤ 500)."),
        ],
    )
    def get(self, request):
        uploads = selectors.uploads_of(request.user)
        if (team := query_id(request.query_params, "team")) is not None:
            uploads = uploads.filter(team_id=team)
        if state := request.query_params.get("state"):
            uploads = uploads.filter(state=state)
        limit = min(500, query_int(request.query_params, "limit", 50, minimum=1))
        return Response(DatasetUploadSerializer(uploads[:limit], many=True, context={"request": request}).data)

    @extend_schema(
        **_CREATE,
        operation_id="datasets_create_upload",
        description="Start an upload session; PUT the archive's bytes to its upload_url.",
    )
    def post(self, request):
        return _create_upload(request)


class DatasetFolderImportView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=FolderImportSerializer,
        responses={201: DatasetUploadSerializer, **ERRORS, 413: ApiErrorSerializer},
        operation_id="datasets_import_folder",
    )
    def post(self, request):
        if not request.user.is_staff:
            raise ApiError("forbidden", "Only site staff may import datasets from server folders.", status_code=403)
        serializer = FolderImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        require_role(request.user, data["team"], TRAINING_ROLES)
        upload = services.create_folder_import(
            request.user,
            data["team"],
            name=data["name"],
            description=data["description"],
            path=data["path"],
            format=data["format"],
            mask_label=data["mask_label"],
            seed=data["seed"],
            ratios=_ratios(data["ratios"]),
        )
        upload.refresh_from_db()
        return _upload_response(request, upload, status.HTTP_201_CREATED)


class DatasetDetailView(APIView):
    @extend_schema(responses={200: DatasetSerializer, 404: ApiErrorSerializer}, operation_id="datasets_retrieve")
    def get(self, request, dataset_id: int):
        return Response(DatasetSerializer(_dataset_or_404(request, dataset_id), context={"request": request}).data)

    @extend_schema(responses={204: None, **ERRORS}, operation_id="datasets_delete")
    def delete(self, request, dataset_id: int):
        services.delete_dataset(_dataset_or_404(request, dataset_id, write=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _report_response(session_id: int, state: str, error: str, report: dict | None) -> Response:
    choices = choices_for((report or {}).get("problem_counts", {}))
    return Response({"id": session_id, "state": state, "error": error, "report": report, "choices": choices})


class DatasetReportView(APIView):
    @extend_schema(
        responses={200: DatasetReportSerializer, 404: ApiErrorSerializer},
        operation_id="datasets_report",
        description="The validation report the dataset was imported from.",
    )
    def get(self, request, dataset_id: int):
        dataset = _dataset_or_404(request, dataset_id)
        return _report_response(dataset.pk, dataset.state, "", selectors.report_of(dataset))


class DatasetUploadDetailView(APIView):
    @extend_schema(
        responses={200: DatasetUploadSerializer, 404: ApiErrorSerializer}, operation_id="datasets_upload_retrieve"
    )
    def get(self, request, upload_id: int):
        return _upload_response(request, _upload_or_404(request, upload_id))

    @extend_schema(
        responses={204: None, **ERRORS, 409: ApiErrorSerializer},
        operation_id="datasets_upload_delete",
        description="Forget a settled (imported, failed or cancelled) upload session; its dataset stays.",
    )
    def delete(self, request, upload_id: int):
        services.delete_upload(_upload_or_404(request, upload_id, write=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetUploadChunkView(APIView):
    parser_classes = [RawBodyParser]

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter("offset", int, required=True, description="Bytes already received (from the last answer).")
        ],
        responses={200: DatasetUploadSerializer, **ERRORS, 409: ApiErrorSerializer, 413: ApiErrorSerializer},
        operation_id="datasets_upload_chunk",
        description=f"Append the next chunk (at most {conf.MAX_CHUNK_BYTES} bytes) of the archive. "
        "The last chunk queues validation.",
    )
    def put(self, request, upload_id: int):
        upload = _upload_or_404(request, upload_id, write=True)
        offset = query_int(request.query_params, "offset", minimum=0)
        if offset is None:
            raise ApiError("invalid_offset", "Give the query parameter offset (bytes received so far).", field="offset")
        length = request.META.get("CONTENT_LENGTH")
        upload = services.receive_chunk(upload, offset, request._request, int(length) if length else None)
        return _upload_response(request, upload)


class DatasetUploadStatusView(APIView):
    @extend_schema(
        responses={200: DatasetUploadSerializer, 404: ApiErrorSerializer}, operation_id="datasets_upload_status"
    )
    def get(self, request, upload_id: int):
        return _upload_response(request, _upload_or_404(request, upload_id))


class DatasetUploadReportView(APIView):
    @extend_schema(
        responses={200: DatasetReportSerializer, 404: ApiErrorSerializer}, operation_id="datasets_upload_report"
    )
    def get(self, request, upload_id: int):
        upload = _upload_or_404(request, upload_id)
        return _report_response(upload.pk, upload.state, upload.error, upload.report)


class DatasetUploadConfirmView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=ConfirmSerializer,
        responses={200: DatasetUploadSerializer, **ERRORS, 409: ApiErrorSerializer, 413: ApiErrorSerializer},
        operation_id="datasets_upload_confirm",
    )
    def post(self, request, upload_id: int):
        upload = _upload_or_404(request, upload_id, write=True)
        serializer = ConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = services.confirm(
            upload,
            skip_codes=data["skip"],
            skip_samples=data["skip_samples"],
            keep_duplicates=data["keep_duplicates"],
            seed=data["seed"],
            ratios=_ratios(data["ratios"]),
        )
        upload.refresh_from_db()
        return _upload_response(request, upload)


class DatasetUploadCancelView(APIView):
    @extend_schema(
        request=None,
        responses={200: DatasetUploadSerializer, **ERRORS, 409: ApiErrorSerializer},
        operation_id="datasets_upload_cancel",
    )
    def post(self, request, upload_id: int):
        upload = _upload_or_404(request, upload_id, write=True)
        upload = services.cancel(upload, reason=f"Cancelled by {request.user.get_username()}.")
        return _upload_response(request, upload)


class DatasetItemsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=DatasetItem.Split.values, required=False),
            OpenApiParameter("class", str, required=False),
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("page_size", int, required=False),
        ],
        responses={200: DatasetItemPageSerializer, 404: ApiErrorSerializer},
        operation_id="datasets_items",
    )
    def get(self, request, dataset_id: int):
        dataset = _dataset_or_404(request, dataset_id)
        params = request.query_params
        split = params.get("split") or None
        if split and split not in DatasetItem.Split.values:
            raise ApiError("invalid_split", f"Unknown split {split!r}; use train, val or test.", field="split")
        items = selectors.items_of(dataset, split=split, class_label=params.get("class") or None)
        page = paginate(items, params, default_size=48, max_size=200)
        return Response({**page, "results": DatasetItemSerializer(page["results"], many=True).data})


def _item_or_404(request, dataset_id: int, item_pk: int) -> DatasetItem:
    item = selectors.item_of(_dataset_or_404(request, dataset_id), item_pk)
    if item is None:
        raise Http404("no such item")
    return item


def _file(path, content_type: str | None = None) -> FileResponse:
    if not path.exists():
        raise Http404("file missing")
    content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115 - FileResponse closes it
    return cache_policy.immutable_private(response)


_BINARY = {(200, "image/*"): OpenApiTypes.BINARY, 404: ApiErrorSerializer}


class DatasetItemImageView(APIView):
    @extend_schema(responses=_BINARY, operation_id="datasets_item_image")
    def get(self, request, dataset_id: int, item_pk: int):
        return _file(storage.path_of(_item_or_404(request, dataset_id, item_pk).image_file))


class DatasetItemMaskView(APIView):
    @extend_schema(responses=_BINARY, operation_id="datasets_item_mask")
    def get(self, request, dataset_id: int, item_pk: int):
        item = _item_or_404(request, dataset_id, item_pk)
        if not item.mask_file:
            raise Http404("this image is unlabelled")
        return _file(storage.path_of(item.mask_file), "image/png")


class DatasetItemThumbnailView(APIView):
    @extend_schema(responses=_BINARY, operation_id="datasets_item_thumbnail")
    def get(self, request, dataset_id: int, item_pk: int):
        return _file(services.thumbnail(_item_or_404(request, dataset_id, item_pk), "image"), "image/jpeg")


class DatasetItemMaskThumbnailView(APIView):
    @extend_schema(responses=_BINARY, operation_id="datasets_item_mask_thumbnail")
    def get(self, request, dataset_id: int, item_pk: int):
        item = _item_or_404(request, dataset_id, item_pk)
        if not item.mask_file:
            raise Http404("this image is unlabelled")
        return _file(services.thumbnail(item, "mask"), "image/png")
