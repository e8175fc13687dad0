from django.urls import path

from webapp.datasets import pages, views

urlpatterns = [
    path("studio/", pages.studio_page, name="studio"),
    path("api/datasets/", views.DatasetListView.as_view(), name="api-datasets"),
    path("api/datasets/import-folder/", views.DatasetFolderImportView.as_view(), name="api-datasets-import-folder"),
    path("api/datasets/<int:dataset_id>/", views.DatasetDetailView.as_view(), name="api-dataset"),
    path("api/datasets/<int:dataset_id>/upload/", views.DatasetUploadView.as_view(), name="api-dataset-upload"),
    path("api/datasets/<int:dataset_id>/status/", views.DatasetStatusView.as_view(), name="api-dataset-status"),
    path("api/datasets/<int:dataset_id>/report/", views.DatasetReportView.as_view(), name="api-dataset-report"),
    path("api/datasets/<int:dataset_id>/confirm/", views.DatasetConfirmView.as_view(), name="api-dataset-confirm"),
    path("api/datasets/<int:dataset_id>/cancel/", views.DatasetCancelView.as_view(), name="api-dataset-cancel"),
    path("api/datasets/<int:dataset_id>/items/", views.DatasetItemsView.as_view(), name="api-dataset-items"),
    path("api/datasets/<int:dataset_id>/items/<int:item_pk>/image/", views.DatasetItemImageView.as_view(),
         name="api-dataset-item-image"),
    path("api/datasets/<int:dataset_id>/items/<int:item_pk>/mask/", views.DatasetItemMaskView.as_view(),
         name="api-dataset-item-mask"),
    path("api/datasets/<int:dataset_id>/items/<int:item_pk>/thumbnail/", views.DatasetItemThumbnailView.as_view(),
         name="api-dataset-item-thumbnail"),
    path("api/datasets/<int:dataset_id>/items/<int:item_pk>/mask-thumbnail/", views.DatasetItemMaskThumbnailView.as_view(),
         name="api-dataset-item-mask-thumbnail"),
]
