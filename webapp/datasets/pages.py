"""The studio page (datasets, later jobs): frontend/studio.html as built by Vite into frontend/dist."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def studio_page(request):
    page = settings.FRONTEND_DIST / "studio.html"
    if not page.is_file():
        return HttpResponse(
            "The frontend is not built: run 'make run' (or 'cd frontend && npm ci && npm run build').",
            status=503, content_type="text/plain",
        )
    response = HttpResponse(page.read_text(), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
