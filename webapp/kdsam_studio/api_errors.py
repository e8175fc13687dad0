"""One JSON shape for every API error: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApiErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(required=False)


class ApiErrorSerializer(serializers.Serializer):
    """Schema of every error response."""

    error = ApiErrorBodySerializer()


class ApiError(exceptions.APIException):
    """An error a user can act on: a stable ``code``, a message saying what and how to fix."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, message: str, *, field: str | None = None, status_code: int | None = None):
        super().__init__(detail=message, code=code)
        self.error_code = code
        self.field = field
        if status_code is not None:
            self.status_code = status_code


def _first_message(detail) -> tuple[str, str | None]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message, _ = _first_message(value)
            return (f"{key}: {message}" if key != "non_field_errors" else message), key
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail), None


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        body = {"code": exc.error_code, "message": str(exc.detail)}
        if exc.field:
            body["field"] = exc.field
    else:
        message, field = _first_message(response.data)
        code = getattr(exc, "default_code", "error")
        body = {"code": code, "message": message}
        if field and field != "detail":
            body["field"] = field
    return Response({"error": body}, status=response.status_code, headers=dict(response.items()))
