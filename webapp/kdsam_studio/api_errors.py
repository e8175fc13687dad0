"""One JSON shape for every API error: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApiErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(required=False)


class ApiErrorSerializer(serializers.Serializer):
    """Schema of every error response."""

    error = ApiErrorBodySerializer()


class ApiError(Exception):
    """An error a user can act on: a stable ``code``, a message saying what and how to fix, the ``field`` at fault.

    The one exception type of the API. Services raise it (or a subclass that names their domain, such as
    ``DatasetRejected``); :func:`exception_handler` renders it, so views never translate errors.
    """

    status_code = 400

    def __init__(self, code: str, message: str, *, field: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        if status_code is not None:
            self.status_code = status_code

    def body(self) -> dict[str, str]:
        """The ``error`` object of the response: ``{"code", "message", "field"?}``."""
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


def _first_message(detail) -> tuple[str, str | None]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message, _ = _first_message(value)
            return (f"{key}: {message}" if key != "non_field_errors" else message), key
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail), None


def exception_handler(exc, context):
    if isinstance(exc, ApiError):
        return Response({"error": exc.body()}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    message, field = _first_message(response.data)
    body = {"code": getattr(exc, "default_code", "error"), "message": message}
    if field and field != "detail":
        body["field"] = field
    return Response({"error": body}, status=response.status_code, headers=dict(response.items()))
