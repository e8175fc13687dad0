"""ASGI entry point: HTTP through Django, websockets through Channels (served by daphne)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.kdsam_studio.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from webapp.jobs.consumers import JobProgressConsumer  # noqa: E402
from webapp.segmentation.consumers import ImageStatusConsumer  # noqa: E402

websocket_urlpatterns = [
    path("ws/images/", ImageStatusConsumer.as_asgi()),
    path("ws/jobs/", JobProgressConsumer.as_asgi()),
    path("ws/jobs/<int:job_id>/", JobProgressConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
