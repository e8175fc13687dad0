"""Query parameters the database cannot hold are refused before a view sees them.

PostgreSQL stores no text containing U+0000: psycopg raises ``ValueError`` before sending a query that binds
such a string, so ``?state=a%00b`` reaching a filter would be a 500 (and on SQLite it silently matches nothing).
Request bodies need no such guard: DRF's ``CharField`` refuses NUL characters and Django drops them from uploaded
file names. Every URL is covered, API or not, with the API's error shape.
"""

from __future__ import annotations

from django.http import JsonResponse


def _refusal(field: str | None, where: str) -> JsonResponse:
    body = {
        "code": "invalid_characters",
        "message": f"{where} contains a NUL character (\\x00 or %00), which cannot be stored; remove it and retry.",
    }
    if field is not None:
        body["field"] = field
    return JsonResponse({"error": body}, status=400)


class RefuseNulInQueryMiddleware:
    """400 ``invalid_characters`` naming the query parameter whose name or value holds a NUL character."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.META.get("QUERY_STRING", "") or "%00" in request.META.get("QUERY_STRING", ""):
            for name, values in request.GET.lists():
                if "\x00" in name:
                    return _refusal(None, f"The name of the query parameter {name.replace(chr(0), '')!r}")
                if any("\x00" in value for value in values):
                    return _refusal(name, f"The query parameter {name}")
        return self.get_response(request)
