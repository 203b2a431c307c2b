"""The Plivo Audio Streams WebSocket: Plivo messages -> engine, nothing else.

No audio reaches the engine before `start` presents the call's single-use token in
`extra_headers`; a bad token closes the socket with 4403.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from agents import engine
from agents.engine.port import CallRequest
from contactcenter.logging import current_call_id
from telephony import media_token
from telephony.models import Carrier

from .port import PlivoPort
from .serializer import FrameError, PlivoEvent, PlivoSerializer

log = logging.getLogger(__name__)

CLOSE_BAD_TOKEN = 4403
END_GRACE_SECONDS = 8.0  # daphne kills a consumer 10 s after the client left


async def _maybe_await(result) -> None:
    if inspect.isawaitable(result):
        await result


class PlivoMediaConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.serializer = PlivoSerializer()
        self.port: PlivoPort | None = None
        self.handle = None
        self.rejected = False
        self._ender: asyncio.Task | None = None
        self._warned_early_media = False
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.rejected:
            return
        if text_data is None:
            log.warning("plivo: binary frame ignored (Plivo sends JSON text only)")
            return
        try:
            event = self.serializer.parse(text_data)
        except FrameError as exc:
            log.warning("plivo: malformed frame ignored: %s", exc)
            return
        if event.kind == "start":
            await self._start(event)
        elif self.handle is None:
            if event.kind == "media" and not self._warned_early_media:
                self._warned_early_media = True
                log.warning("plivo: media before a valid start dropped")
        elif event.kind == "media":
            self.handle.push_audio(event.payload)
        elif event.kind == "dtmf":
            await _maybe_await(self.handle.push_dtmf(event.digit))
        elif event.kind == "playedStream":
            await _maybe_await(self.handle.mark_played(event.name))
        elif event.kind == "stop":
            log.info("plivo: stream stopped by Plivo")
            self.port.remote_ended = True
            await _maybe_await(self.handle.remote_hangup("caller hung up"))

    async def _start(self, event: PlivoEvent) -> None:
        if self.handle is not None:
            log.warning("plivo: second start on one stream ignored")
            return
        call = await database_sync_to_async(media_token.consume)(event.headers.get("token"))
        if call is None:
            self.rejected = True
            log.warning(
                "plivo: stream %s for call %s refused: missing, unknown or reused media token (close %d)",
                event.stream_id,
                event.call_id,
                CLOSE_BAD_TOKEN,
            )
            await self.close(code=CLOSE_BAD_TOKEN)
            return
        current_call_id.set(str(call.id))
        self.port = PlivoPort(self.serializer, self._send_text, self._close_socket, self._public_base())
        request = CallRequest(
            carrier=Carrier.PLIVO,
            direction=call.direction,
            from_number=call.from_number,
            to_number=call.to_number,
            carrier_call_id=event.call_id or call.carrier_call_id,
            call_id=call.id,
        )
        log.info("plivo: stream %s attached to call %s", event.stream_id, call.id)
        self.handle = await engine.start_call(request, self.port)
        self._ender = asyncio.create_task(self._close_when_done())

    def _public_base(self) -> str:
        """http(s) base of this server as the client reached it (used when PUBLIC_BASE_URL is unset)."""
        headers = dict(self.scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        return f"{scheme}://{host}" if host else ""

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close_socket(self) -> None:
        await self.close(code=1000)

    async def _close_when_done(self) -> None:
        await self.handle.wait()
        if self.port and self.port.open:
            self.port.open = False
            await self.close(code=1000)

    async def disconnect(self, code: int) -> None:
        if self.port:
            was_open = self.port.open
            self.port.open = False
            if was_open and not self.port.remote_ended:
                # Plivo has no stop message: a closed socket is how a caller hangup arrives.
                log.info("plivo: stream socket closed (code %s): ending the call", code)
                self.port.remote_ended = True
                await _maybe_await(self.handle.remote_hangup("caller hung up"))
        if self._ender is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._ender), END_GRACE_SECONDS)
            except TimeoutError:
                log.warning(
                    "plivo: call did not finish within %.0f s of the socket closing", END_GRACE_SECONDS
                )
