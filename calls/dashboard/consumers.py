"""The live-calls WebSocket: staff see calls ringing and in progress, updated without a reload.

It polls the `Call` table about once a second (off the event loop), so calls handled by any process
(daphne, runasterisk, runsip) show up the same way in embedded and production mode. A snapshot is
sent on connect and whenever the list changes.
"""

from __future__ import annotations

import asyncio
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from . import queries

POLL_SECONDS = 1.0


class LiveCallsConsumer(AsyncWebsocketConsumer):
    poll_seconds = POLL_SECONDS

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff or not user.is_active:
            await self.close(code=4403)
            return
        await self.accept()
        self._last = None
        self._poller = asyncio.create_task(self._poll())

    async def disconnect(self, code: int) -> None:
        poller = getattr(self, "_poller", None)
        if poller is not None:
            poller.cancel()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Clients send nothing; anything received is ignored."""

    async def _poll(self) -> None:
        while True:
            calls = await database_sync_to_async(queries.live_calls)()
            body = json.dumps({"type": "live_calls", "calls": calls})
            if body != self._last:
                self._last = body
                await self.send(text_data=body)
            await asyncio.sleep(self.poll_seconds)
