from django.urls import path

from webapp.datasets import pages, views

urlpatterns = [
    path("studio/", pages.studio_page, name="studio"),
    path("api/datasets/", views.DatasetListView.as_view(), name="api-datasets"),
    path("api/datasets/import-folder/", views.DatasetFolderImportView.as_view(), name="api-datasets-import-folder"),
    # each of your teams' stored bytes and storage quota
    path("api/datasets/storage/", views.TeamStorageView.as_view(), name="api-datasets-storage"),
    # upload sessions: transfer, validation, report, confirmation, import (a dataset exists only once imported)
    path("api/datasets/uploads/", views.DatasetUploadListView.as_view(), name="api-dataset-uploads"),
    path(
        "api/datasets/uploads/<int:upload_id>/",
        views.DatasetUploadDetailView.as_view(),
        name="api-dataset-upload-detail",
    ),
    path(
        "api/datasets/uploads/<int:upload_id>/upload/",
        views.DatasetUploadChunkView.as_view(),
        name="api-dataset-upload-chunk",
    ),
    path(
        "api/datasets/uploads/<int:upload_id>/status/",
        views.DatasetUploadStatusView.as_view(),
        name="api-dataset-upload-status",
    ),
    path(
        "api/datasets/uploads/<int:upload_id>/report/",
        views.DatasetUploadReportView.as_view(),
        name="api-dataset-upload-report",
    ),
    path(
        "api/datasets/uploads/<int:upload_id>/confirm/",
        views.DatasetUploadConfirmView.as_view(),
        name="api-dataset-upload-confirm",
    ),
    path(
        "api/datasets/uploads/<int:upload_id>/cancel/",
        views.DatasetUploadCancelView.as_view(),
        name="api-dataset-upload-cancel",
    ),
    # datasets (imported)
    path("api/datasets/<int:dataset_id>/", views.DatasetDetailView.as_view(), name="api-dataset"),
    path("api/datasets/<int:dataset_id>/report/", views.DatasetReportView.as_view(), name="api-dataset-report"),
    path("api/datasets/<int:dataset_id>/items/", views.DatasetItemsView.as_view(), name="api-dataset-items"),
    path(
        "api/datasets/<int:dataset_id>/items/<int:item_pk>/image/",
        views.DatasetItemImageView.as_view(),
        name="api-dataset-item-image",
    ),
    path(
        "api/datasets/<int:dataset_id>/items/<int:item_pk>/mask/",
        views.DatasetItemMaskView.as_view(),
        name="api-dataset-item-mask",
    ),
    path(
        "api/datasets/<int:dataset_id>/items/<int:item_pk>/thumbnail/",
        views.DatasetItemThumbnailView.as_view(),
        name="api-dataset-item-thumbnail",
    ),
    path(
        "api/datasets/<int:dataset_id>/items/<int:item_pk>/mask-thumbnail/",
        views.DatasetItemMaskThumbnailView.as_view(),
        name="api-dataset-item-mask-thumbnail",
    ),
]
