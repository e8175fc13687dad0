"""Status changes reach the owner's browser over the websocket."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from tests.web.images_support import image_row
from webapp.kdsam_studio.asgi import application
from webapp.segmentation.services import notify_status

pytestmark = pytest.mark.django_db(transaction=True)


def connect(user):
    communicator = WebsocketCommunicator(
        application, "/ws/images/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
    )
    communicator.scope["user"] = user
    return communicator


async def test_owner_receives_image_status_events(django_user_model):
    user = await sync_to_async(django_user_model.objects.create_user)("ws-owner", password="pw-long-enough-1")
    communicator = connect(user)
    connected, _ = await communicator.connect()
    assert connected
    image = await sync_to_async(image_row)(user)
    await sync_to_async(notify_status)(image)
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "image.status"
    assert message["image"]["id"] == image.pk and message["image"]["status"] == "queued"
    await communicator.disconnect()


async def test_other_users_do_not_receive_the_event(django_user_model):
    owner = await sync_to_async(django_user_model.objects.create_user)("ws-a", password="pw-long-enough-1")
    other = await sync_to_async(django_user_model.objects.create_user)("ws-b", password="pw-long-enough-2")
    communicator = connect(other)
    assert (await communicator.connect())[0]
    image = await sync_to_async(image_row)(owner)
    await sync_to_async(notify_status)(image)
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_anonymous_websocket_is_refused():
    from django.contrib.auth.models import AnonymousUser

    communicator = connect(AnonymousUser())
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_redis_channel_layer_survives_idle_reads_longer_than_the_blocking_pop(tmp_path):
    """An idle websocket must not die after 5 s (redis-py's default read timeout)."""
    import asyncio

    from channels_redis.core import RedisChannelLayer

    from webapp.kdsam_studio import embedded_redis
    from webapp.kdsam_studio.config import redis_channel_layer

    url = embedded_redis.ensure_running(tmp_path)
    try:
        layer = RedisChannelLayer(**redis_channel_layer(url)["CONFIG"])
        channel = await layer.new_channel()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(channel), timeout=layer.brpop_timeout + 2)
        await layer.send(channel, {"type": "ping"})
        assert (await layer.receive(channel))["type"] == "ping"
        await layer.flush()
    finally:
        embedded_redis.stop(tmp_path)
