from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from webapp.accounts.views import LoginView, LogoutView, SessionView, TeamListView
from webapp.segmentation import privacy as segmentation_privacy
from webapp.segmentation import views as segmentation
from webapp.segmentation.pages import app_page

urlpatterns = [
    path("", app_page, name="app"),
    path("admin/", admin.site.urls),
    path("accounts/login/", LoginView.as_view(), name="login"),  # throttled: webapp/accounts/throttling.py
    path("accounts/logout/", LogoutView.as_view(), name="logout"),  # clears the browser's caches
    path("api/session/", SessionView.as_view(), name="api-session"),
    path("api/teams/", TeamListView.as_view(), name="api-teams"),
    path("", include("webapp.datasets.urls")),
    path("", include("webapp.jobs.urls")),
    path("", include("webapp.registry.urls")),
    path("api/images/", segmentation.ImageListView.as_view(), name="api-images"),
    path("api/images/<int:image_id>/", segmentation.ImageDetailView.as_view(), name="api-image"),
    path("api/images/<int:image_id>/file/", segmentation.ImageFileView.as_view(), name="api-image-file"),
    path("api/images/<int:image_id>/embedding/", segmentation.ImageEmbeddingView.as_view(), name="api-image-embedding"),
    path("api/images/<int:image_id>/pixels/", segmentation.ImagePixelsView.as_view(), name="api-image-pixels"),
    path("api/images/<int:image_id>/masks/", segmentation.ImageMasksView.as_view(), name="api-image-masks"),
    path(
        "api/images/<int:image_id>/masks/coco/",
        segmentation.ImageMasksExportView.as_view(),
        name="api-image-masks-coco",
    ),
    path("api/masks/<int:mask_id>/", segmentation.MaskDetailView.as_view(), name="api-mask"),
    path("api/masks/<int:mask_id>/export/<str:fmt>/", segmentation.MaskExportView.as_view(), name="api-mask-export"),
    path(
        "segmentation/decoders/<int:version_id>/decoder-multimask.onnx",
        segmentation.browser_decoder,
        name="segmentation-browser-decoder",
    ),
    # privacy mode (webapp/segmentation/privacy.py): the student encoder for the browser
    path("api/privacy/", segmentation_privacy.PrivacyConfigView.as_view(), name="api-privacy"),
    path(
        "segmentation/encoders/<int:version_id>/encoder.onnx",
        segmentation_privacy.browser_encoder,
        name="segmentation-browser-encoder",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
