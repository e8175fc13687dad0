"""While the channel layer's Redis is down a websocket closes with 1013 (try again later), never a 500.

Against a real Redis, killed mid-test: the browser's live feed reconnects with backoff and polls meanwhile
(frontend/src/live-feed.ts); once Redis is back a new socket joins its groups and receives events again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from webapp.kdsam_studio import embedded_redis
from webapp.kdsam_studio.asgi import application
from webapp.kdsam_studio.config import redis_channel_layer
from webapp.kdsam_studio.websockets import ClosesWhenChannelLayerFails

pytestmark = pytest.mark.django_db(transaction=True)

#: RFC 6455 "Try Again Later"
TRY_AGAIN_LATER = 1013
PATHS = ["/ws/images/", "/ws/jobs/"]


def in_own_loop(coroutine):
    """Run ``coroutine`` on a fresh event loop in another thread (the browser tests keep one on the main thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def real_redis(tmp_path, settings):
    """A real Redis as the channel layer; ``kill()`` SIGKILLs it, ``restart()`` brings it back on its port."""
    data_dir = tmp_path / "redis-data"
    url = embedded_redis.ensure_running(data_dir)
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(url)}

    class Redis:
        def kill(self):
            pid = int((data_dir / "redis" / "redis.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while embedded_redis.running_url(data_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not embedded_redis.running_url(data_dir)

        def restart(self):
            assert embedded_redis.ensure_running(data_dir) == url

    try:
        yield Redis()
    finally:
        embedded_redis.stop(data_dir)


def communicator(path: str, user) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    socket.scope["user"] = user
    return socket


async def _user(django_user_model, name: str):
    return await sync_to_async(django_user_model.objects.create_user)(name, password="pw-long-enough-1")


@pytest.mark.parametrize("path", PATHS)
def test_a_handshake_while_redis_is_down_is_accepted_then_closed_with_try_again_later(
    path, real_redis, django_user_model
):
    async def scenario():
        user = await _user(django_user_model, "ws-redis-down")
        real_redis.kill()
        socket = communicator(path, user)
        connected, _ = await socket.connect(timeout=10)
        closing = await socket.receive_output(timeout=10)
        await socket.wait(timeout=5)
        return connected, closing

    connected, closing = in_own_loop(scenario())

    assert connected
    assert closing == {"type": "websocket.close", "code": TRY_AGAIN_LATER}


@pytest.mark.parametrize("path", PATHS)
def test_an_open_socket_is_closed_with_try_again_later_when_redis_dies(path, real_redis, django_user_model):
    async def scenario():
        user = await _user(django_user_model, "ws-redis-dies")
        socket = communicator(path, user)
        connected, _ = await socket.connect(timeout=10)
        assert connected
        real_redis.kill()
        closing = await socket.receive_output(timeout=15)
        await socket.wait(timeout=5)
        return closing

    assert in_own_loop(scenario()) == {"type": "websocket.close", "code": TRY_AGAIN_LATER}


def test_once_redis_is_back_a_new_socket_receives_image_events_again(real_redis, django_user_model):
    from tests.web.images_support import image_row
    from webapp.segmentation.services import notify_status

    async def scenario():
        user = await _user(django_user_model, "ws-redis-back")
        real_redis.kill()
        refused = communicator("/ws/images/", user)
        await refused.connect(timeout=10)
        await refused.receive_output(timeout=10)
        await refused.wait(timeout=5)
        real_redis.restart()
        socket = communicator("/ws/images/", user)
        connected, _ = await socket.connect(timeout=10)
        image = await sync_to_async(image_row)(user)
        await sync_to_async(notify_status)(image)
        message = await socket.receive_json_from(timeout=10)
        await socket.disconnect()
        return connected, message, image.pk

    connected, message, image_id = in_own_loop(scenario())

    assert connected
    assert message["type"] == "image.status" and message["image"]["id"] == image_id


class _SendsAfterTheClientLeft:
    """A consumer stand-in: accepts, then sends to a client that has gone (the server's send raises)."""

    async def __call__(self, scope, receive, send):
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "status"})


class _Probe(ClosesWhenChannelLayerFails, _SendsAfterTheClientLeft):
    pass


@pytest.mark.django_db(transaction=False)
def test_a_client_that_went_away_is_neither_reported_as_a_channel_layer_failure_nor_sent_a_close(caplog):
    from uvicorn.protocols.utils import ClientDisconnected

    sent = []

    async def send(message):
        if message["type"] != "websocket.accept":
            raise ClientDisconnected
        sent.append(message["type"])

    async def receive():
        return {"type": "websocket.disconnect", "code": 1001}

    in_own_loop(_Probe()({"type": "websocket", "path": "/ws/images/"}, receive, send))

    assert sent == ["websocket.accept"]
    assert "channel layer failed" not in caplog.text
