"""What every websocket consumer does when its channel layer (Redis) is unreachable: close with 1013.

Without this, a consumer whose ``group_add`` or background ``receive`` raises dies with the exception, and
the server answers the handshake with a 500 (or drops an open socket without a code). Instead the socket is
accepted if it was not yet, then closed with 1013 "Try Again Later": the browser's live feed reconnects with
backoff and polls meanwhile (``frontend/src/live-feed.ts``), and once Redis is back a new socket joins its
groups again (the old memberships went with Redis). A send that fails because the client went away (the
server raises an ``OSError`` too) ends the consumer quietly.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: RFC 6455: the server is overloaded or a dependency is down; the client may reconnect later
TRY_AGAIN_LATER = 1013
#: what the Redis channel layer raises when its server cannot be reached
CHANNEL_LAYER_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


class ClosesWhenChannelLayerFails:
    """Mixin for a Channels websocket consumer (put it first): channel-layer failures close with 1013."""

    async def __call__(self, scope, receive, send):
        state = {"accepted": False, "closed": False, "client_gone": False}

        async def tracking_send(message):
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            try:
                await send(message)
            except OSError:  # the server's own: the client went away (uvicorn's ClientDisconnected)
                state["client_gone"] = True
                raise

        try:
            await super().__call__(scope, receive, tracking_send)  # type: ignore[misc]
        except CHANNEL_LAYER_ERRORS as error:
            if state["client_gone"]:  # nothing to tell a client that left, and Redis is not to blame
                log.debug("websocket %s: the client went away", scope.get("path"))
                return
            log.warning(
                "websocket %s closed: the channel layer failed (%s: %s)", scope.get("path"), type(error).__name__, error
            )
            if state["closed"]:
                return
            if not state["accepted"]:
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER})
