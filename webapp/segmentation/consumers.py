"""Websocket: pushes image status changes to the owner's browsers."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from webapp.kdsam_studio.websockets import ClosesWhenChannelLayerFails
from webapp.segmentation.services import user_group


class ImageStatusConsumer(ClosesWhenChannelLayerFails, AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def image_status(self, event):
        await self.send_json({"type": "image.status", "image": event["image"]})
