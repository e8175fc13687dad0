"""Serving the HTML pages Vite builds into frontend/dist (their assets are static files)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


def frontend_page(filename: str):
    """A login-protected view answering with ``frontend/dist/<filename>`` (503 when not built)."""

    @login_required
    def view(request):
        page = settings.FRONTEND_DIST / filename
        if not page.is_file():
            return HttpResponse(
                "The frontend is not built: run 'make run' (or 'cd frontend && npm ci && npm run build').",
                status=503,
                content_type="text/plain",
            )
        response = HttpResponse(page.read_text(), content_type="text/html; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        return response

    view.__name__ = f"frontend_page_{filename.replace('.', '_')}"
    return view
