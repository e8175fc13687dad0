from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from webapp.accounts.views import SessionView
from webapp.registry.views import ActiveModelView, decoder_onnx
from webapp.segmentation import views as segmentation
from webapp.segmentation.pages import app_page

urlpatterns = [
    path("", app_page, name="app"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/session/", SessionView.as_view(), name="api-session"),
    path("api/models/active/", ActiveModelView.as_view(), name="api-model-active"),
    path("api/images/", segmentation.ImageListView.as_view(), name="api-images"),
    path("api/images/<int:image_id>/", segmentation.ImageDetailView.as_view(), name="api-image"),
    path("api/images/<int:image_id>/file/", segmentation.ImageFileView.as_view(), name="api-image-file"),
    path("api/images/<int:image_id>/embedding/", segmentation.ImageEmbeddingView.as_view(), name="api-image-embedding"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("models/<int:version_id>/decoder.onnx", decoder_onnx, name="model-decoder-onnx"),
]
