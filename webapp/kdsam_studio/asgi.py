"""ASGI entry point: HTTP through Django, websockets through Channels (served by uvicorn: web_server.py).

Every HTTP request passes the body limit first (``body_limit.py``, ``KDSAM_MAX_REQUEST_MB``).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.kdsam_studio.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings
from django.urls import path

from webapp.jobs.consumers import JobProgressConsumer
from webapp.kdsam_studio.body_limit import RequestBodyLimit
from webapp.kdsam_studio.origin import WebsocketOriginValidator
from webapp.segmentation.consumers import ImageStatusConsumer

websocket_urlpatterns = [
    path("ws/images/", ImageStatusConsumer.as_asgi()),
    path("ws/jobs/", JobProgressConsumer.as_asgi()),
    path("ws/jobs/<int:job_id>/", JobProgressConsumer.as_asgi()),
]

application = RequestBodyLimit(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": WebsocketOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        }
    ),
    settings.STUDIO.max_request_bytes,
)
