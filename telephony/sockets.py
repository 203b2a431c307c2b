"""What every media WebSocket consumer of this process shares: dispatch without a thread hop per frame.

Channels' `AsyncConsumer.dispatch` awaits `aclose_old_connections()` before every handler: a
`sync_to_async` hop onto the single thread-sensitive executor, 50–100 times a second per call for
media consumers that never touch the database per frame (13.5 % of a daphne process at 30 calls,
issue 16). Here a `websocket.receive` goes straight to its handler; `connect` and `disconnect`
keep Channels' behaviour, and every database call the consumers make goes through
`database_sync_to_async`, which closes stale connections itself around each call.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class MediaSocketConsumer(AsyncWebsocketConsumer):
    """An `AsyncWebsocketConsumer` whose frames skip the per-message stale-connection check."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)
