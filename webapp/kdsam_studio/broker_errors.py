"""The one answer when the Celery broker (Redis) refuses work: 503 ``queue_unavailable``, nothing half-stored.

Services enqueue after their rows are committed; on :data:`BROKER_ERRORS` they undo what they stored and raise
:func:`queue_unavailable`, so no row is ever left ``queued`` without a task.
"""

from __future__ import annotations

from kombu.exceptions import OperationalError

from webapp.kdsam_studio.api_errors import ApiError

#: what ``apply_async`` raises when the broker cannot be reached (Celery wraps connection errors in it)
BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError,)


def queue_unavailable(not_done: str) -> ApiError:
    """The 503 for a broker failure; ``not_done`` says what was not kept, e.g. ``"your image was not stored."``."""
    return ApiError(
        "queue_unavailable",
        f"The processing queue is unavailable; {not_done} "
        "Try again in a minute; if it persists, an admin should check the worker and Redis.",
        status_code=503,
    )
