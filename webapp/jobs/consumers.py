"""Websocket: live progress of a team's jobs (``/ws/jobs/``) or of one job (``/ws/jobs/<id>/``)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from webapp.jobs.progress import job_group, team_group
from webapp.kdsam_studio.websockets import ClosesWhenChannelLayerFails


class JobProgressConsumer(ClosesWhenChannelLayerFails, AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        job_id = self.scope["url_route"]["kwargs"].get("job_id")
        self.groups_joined = await self._groups(user, job_id)
        if self.groups_joined is None:
            await self.close(code=4404)
            return
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    @database_sync_to_async
    def _groups(self, user, job_id):
        from webapp.accounts.selectors import teams_of
        from webapp.jobs.selectors import job_of

        if job_id is None:
            return [team_group(team_id) for team_id in teams_of(user).values_list("pk", flat=True)]
        job = job_of(user, int(job_id))
        return None if job is None else [job_group(job.pk)]

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", None) or []:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def job_update(self, event):
        await self.send_json({"type": "job.update", "job": event["job"]})

    async def job_progress(self, event):
        await self.send_json({"type": "job.progress", "job": event["job"], "event": event["event"]})
