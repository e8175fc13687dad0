"""The error of the datasets domain: a request the user can fix (rendered by the API's exception handler)."""

from __future__ import annotations

from webapp.kdsam_studio.api_errors import ApiError


class DatasetRejected(ApiError):
    """A dataset request the user can fix; ``code`` is stable, ``message`` says what to do."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 400):
        super().__init__(code, message, field=field, status_code=status)
