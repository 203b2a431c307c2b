"""The supervise WebSocket of a live call's page: listen in, take over, hand back (staff only).

The browser sends JSON commands (`listen`, `stop`, `take_over`, `hand_back`) and, while it has the
call, its microphone as binary 16 kHz PCM16. This consumer only relays: commands and microphone
audio go to the call's group (`calls/supervision.py`), whichever process holds the call; the call's
mixed audio comes back binary, its state as JSON. Each listen and take-over is logged on the call
(`Supervision`).
"""

from __future__ import annotations

import asyncio
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from calls import supervision as route
from calls.models import Call, Supervision

MAX_MIC_BYTES = route.LISTEN_RATE * 2  # one second of microphone audio per message at most


@database_sync_to_async
def _live(call_id) -> bool:
    return Call.objects.filter(pk=call_id, status=Call.Status.IN_PROGRESS).exists()


@database_sync_to_async
def _log(call_id, user, action: str) -> int:
    return Supervision.objects.create(
        call_id=call_id, user=user, username=user.get_username(), action=action
    ).pk


@database_sync_to_async
def _close(pk: int) -> None:
    Supervision.objects.filter(pk=pk, ended_at__isnull=True).update(ended_at=timezone.now())


class SuperviseConsumer(AsyncWebsocketConsumer):
    refresh_seconds = route.LISTEN_REFRESH_SECONDS

    async def connect(self) -> None:
        """Staff only (anyone else is refused at the handshake, 4403); 4404 when the call is not live."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff or not user.is_active:
            await self.close(code=4403)
            return
        self.call_id = self.scope["url_route"]["kwargs"]["call_id"]
        if not await _live(self.call_id):
            await self.accept()  # then close: a browser only sees the code of a socket that opened
            await self.close(code=4404)
            return
        self.user = user
        self.by = user.get_username()
        self.listening: int | None = None  # the Supervision row of the current listen
        self.taking: int | None = None  # of the current take-over request or take-over
        self.has_call = False
        self._refresher: asyncio.Task | None = None
        await self.accept()

    async def _to_call(self, kind: str, **extra) -> None:
        message = {"type": kind, "channel": self.channel_name, "by": self.by, **extra}
        await self.channel_layer.group_send(route.group_for(self.call_id), message)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if bytes_data is not None:
            if self.has_call and len(bytes_data) <= MAX_MIC_BYTES:
                await self._to_call(route.SUPERVISOR_AUDIO, pcm=bytes_data)
            return
        try:
            command = json.loads(text_data or "{}").get("type")
        except (ValueError, AttributeError):
            return
        if command == "listen":
            await self._listen()
        elif command == "stop":
            await self._stop_listening()
        elif command == "take_over":
            await self._listen()  # the supervisor hears the caller while they talk
            if self.taking is None:
                self.taking = await _log(self.call_id, self.user, Supervision.Action.TAKE_OVER)
            await self._to_call(route.TAKE_OVER)
        elif command == "hand_back":
            await self._to_call(route.HAND_BACK)

    async def _listen(self) -> None:
        if self.listening is not None:
            return
        await self.channel_layer.group_add(route.listeners_group_for(self.call_id), self.channel_name)
        self.listening = await _log(self.call_id, self.user, Supervision.Action.LISTEN)
        await self._to_call(route.LISTEN)
        self._refresher = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        """Say "still listening" now and then: a call forgets listeners that stop saying it."""
        while True:
            await asyncio.sleep(self.refresh_seconds)
            await self._to_call(route.LISTEN)

    async def _stop_listening(self) -> None:
        if self.listening is None:
            return
        if self._refresher is not None:
            self._refresher.cancel()
        await self._to_call(route.UNLISTEN)
        await self.channel_layer.group_discard(route.listeners_group_for(self.call_id), self.channel_name)
        await _close(self.listening)
        self.listening = None
        await self.send(text_data=json.dumps({"type": "listening", "on": False}))

    async def disconnect(self, code: int) -> None:
        if getattr(self, "user", None) is None:
            return
        if self.has_call or self.taking is not None:
            await self._to_call(route.HAND_BACK)
            await self._ended_take_over()
        await self._stop_listening_quietly()

    async def _stop_listening_quietly(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        if self.listening is not None:
            await self._to_call(route.UNLISTEN)
            await self.channel_layer.group_discard(route.listeners_group_for(self.call_id), self.channel_name)
            await _close(self.listening)
            self.listening = None

    async def _ended_take_over(self) -> None:
        if self.taking is not None:
            await _close(self.taking)
            self.taking = None
        self.has_call = False

    # --- from the call ----------------------------------------------------------------------------
    async def supervision_audio(self, message: dict) -> None:
        if self.listening is not None:
            await self.send(bytes_data=message["pcm"])

    async def supervision_state(self, message: dict) -> None:
        taken_by = message.get("taken_by", "")
        mine = bool(taken_by) and message.get("holder") == self.channel_name
        if self.has_call and not mine:  # handed back (by this page, or the call's watchdog)
            await self._ended_take_over()
        self.has_call = mine
        await self.send(
            text_data=json.dumps(
                {"type": "state", "taken_by": taken_by, "mine": mine, "listening": self.listening is not None}
            )
        )

    async def supervision_refused(self, message: dict) -> None:
        if self.taking is not None:
            await database_sync_to_async(Supervision.objects.filter(pk=self.taking).delete)()
            self.taking = None
        await self.send(text_data=json.dumps({"type": "refused", "reason": message.get("reason", "")}))

    async def supervision_ended(self, message: dict) -> None:
        await self._ended_take_over()
        await self._stop_listening_quietly()
        await self.send(text_data=json.dumps({"type": "ended"}))
        await self.close()
