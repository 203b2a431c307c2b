"""What every media WebSocket consumer of this process shares: dispatch without a thread hop per frame,
and a call that cannot outlive its consumer.

Channels' `AsyncConsumer.dispatch` awaits `aclose_old_connections()` before every handler: a
`sync_to_async` hop onto the single thread-sensitive executor, 50–100 times a second per call for
media consumers that never touch the database per frame (13.5 % of a daphne process at 30 calls,
issue 16). Here a `websocket.receive` goes straight to its handler; `connect` and `disconnect`
keep Channels' behaviour, and every database call the consumers make goes through
`database_sync_to_async`, which closes stale connections itself around each call.

Channels' `AsyncConsumer.__call__` also wraps every `receive()` in a new task and `asyncio.wait`s on
it together with a channel-layer channel of the consumer's own (a Redis `new_channel` in production).
No media consumer is ever sent a channel-layer message (supervision, hand-offs and warm transfers
listen on channels of their own), so here one loop awaits the socket and dispatches each message in
turn, the same order and one-at-a-time as Channels: 52 → 19 µs per frame in `bench/frame_path.py`.

Where the server offers it (`contactcenter.ws_protocol`, the media process), a consumer may also take
text frames in the server's read callback (`take_inline`): while the consumer waits for its next
message, a frame goes straight to a synchronous handler, with no future, task wake-up or coroutine
chain per frame; the frames the handler declines, and every frame under daphne (embedded `./run`),
arrive through `receive` as before.

Daphne cancels an application instance that is still busy 10 s after its client left ("took too
long to shut down and was killed"), before `disconnect` has run: under load a consumer can be that
far behind its socket. `abandon()` then ends the consumer's call, so a call never stays live (and
holds its cap slot and a drain) with no socket.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from contactcenter.ws_protocol import INLINE_TEXT


class MediaSocketConsumer(AsyncWebsocketConsumer):
    """An `AsyncWebsocketConsumer` that reads its socket in one loop and skips the per-message
    stale-connection check."""

    async def __call__(self, scope, receive, send) -> None:
        self.scope = scope
        self.channel_layer = None  # media sockets take no channel-layer messages (module docstring)
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            self.take_inline(None)
            self.abandon()

    def take_inline(self, handler: Callable[[str], bool] | None) -> bool:
        """Have the server hand text frames to `handler` in its read callback (module docstring), or
        stop with None. False where the server does not offer it (daphne): frames come to `receive`."""
        take = self.scope.get("extensions", {}).get(INLINE_TEXT)
        if take is None:
            return False
        # In this consumer's context (its call id in log lines; tasks it starts inherit it), not the
        # server's read callback's.
        take(None if handler is None else functools.partial(contextvars.copy_context().run, handler))
        return True

    def abandon(self) -> None:
        """The consumer is gone (closed, or killed by the server): end what it still holds."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)
