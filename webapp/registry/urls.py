from django.urls import path

from webapp.registry import views

urlpatterns = [
    path("api/models/", views.ModelVersionListView.as_view(), name="api-models"),
    path("api/models/active/", views.ActiveModelView.as_view(), name="api-model-active"),
    path("api/models/<int:version_id>/", views.ModelVersionDetailView.as_view(), name="api-model"),
    path(
        "api/models/<int:version_id>/publish/",
        views.ModelVersionStateView.as_view(transition="publish"),
        name="api-model-publish",
    ),
    path(
        "api/models/<int:version_id>/archive/",
        views.ModelVersionStateView.as_view(transition="archive"),
        name="api-model-archive",
    ),
    path("models/<int:version_id>/decoder.onnx", views.decoder_onnx, name="model-decoder-onnx"),
    path("models/<int:version_id>/decoder_int8.onnx", views.decoder_onnx_int8, name="model-decoder-onnx-int8"),
]
