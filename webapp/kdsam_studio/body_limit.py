"""The request body limit, enforced at the ASGI layer before Django reads a byte of the body.

:class:`RequestBodyLimit` wraps the whole ASGI application (``asgi.py``). An HTTP request whose
``Content-Length`` exceeds the limit is answered 413 at once, without reading its body; a body without
one (chunked) is passed on as it arrives and cut off with the same 413 as soon as it passes the limit.
The answer has the API's error shape (:class:`~webapp.kdsam_studio.api_errors.ApiError`) and ``Connection:
close``, so the server stops reading the connection. Bodies under the limit are streamed to Django, which
spools them to a temporary file (``FILE_UPLOAD_MAX_MEMORY_SIZE``), never holding them in memory.

The limit is ``KDSAM_MAX_REQUEST_MB`` (:class:`~webapp.kdsam_studio.config.StudioConfig`): by default it
admits the largest image upload and the largest dataset chunk. Websockets and lifespan pass untouched.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from webapp.kdsam_studio.api_errors import ApiError
from webapp.kdsam_studio.middleware import CONTENT_SECURITY_POLICY, CROSS_ORIGIN_ISOLATION

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MIB = 1024 * 1024
#: The setting that raises the limit, named in the refusal.
SETTING = "KDSAM_MAX_REQUEST_MB"


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, or None where it sends none (or one the server would refuse anyway)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _size(limit: int) -> str:
    return f"{limit // MIB} MB" if limit % MIB == 0 else f"{limit} bytes"


class RequestBodyLimit:
    """ASGI middleware: an HTTP request body over ``max_bytes`` is answered 413, before or while it arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        error = ApiError(
            "request_too_large",
            f"The request body is larger than this server accepts: at most {_size(max_bytes)} ({SETTING}). "
            "Send a smaller file (a dataset archive goes in chunks), or ask the administrator to raise "
            f"{SETTING} (and the proxy's body limit).",
            status_code=413,
        )
        self.refusal = json.dumps({"error": error.body()}).encode()
        # The headers Django's middleware gives every response (middleware.py, cache_policy.py)
        csp = "; ".join(" ".join((name, *sources)) for name, sources in CONTENT_SECURITY_POLICY.items())
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.refusal)).encode()),
            (b"connection", b"close"),  # the server reads no more of this connection
            (b"cache-control", b"private, no-store"),
            (b"x-content-type-options", b"nosniff"),
            (b"content-security-policy", csp.encode()),
            *((name.lower().encode(), value.encode()) for name, value in CROSS_ORIGIN_ISOLATION.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        refused = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not response_started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}  # the application stops reading (Django: RequestAborted)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the 413 has answered
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 413, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.refusal})
