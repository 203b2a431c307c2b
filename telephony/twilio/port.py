"""The engine's `MediaPort` for one Twilio Media Stream: engine commands -> Twilio messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from engine.port import WireFormat

from . import rest, twiml
from .serializer import TwilioSerializer

log = logging.getLogger(__name__)


class TwilioPort:
    """u-law 8 kHz, 20 ms frames; Twilio confirms playback with `mark` (and returns pending marks on `clear`)."""

    wire = WireFormat("ulaw", 8000)
    supports_marks = True

    def __init__(
        self,
        serializer: TwilioSerializer,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.serializer = serializer
        self._send = send
        self._close = close
        self.open = True  # False once the socket is gone: sends become no-ops
        self.remote_ended = False  # Twilio said `stop` or the socket dropped: no REST hangup
        self._hung_up = False

    async def _emit(self, text: str) -> None:
        if self.open:
            await self._send(text)

    async def send_audio(self, payload: bytes) -> None:
        await self._emit(self.serializer.media(payload))

    async def clear(self) -> None:
        await self._emit(self.serializer.clear())

    async def mark(self, name: str) -> None:
        await self._emit(self.serializer.mark(name))

    async def hangup(self, reason: str) -> None:
        """End the call at Twilio (REST Status=completed), then close the stream."""
        if self._hung_up:
            return
        self._hung_up = True
        call_sid = self.serializer.call_sid
        if not self.remote_ended and call_sid:
            try:
                await asyncio.to_thread(rest.end_call, call_sid)
            except Exception:  # noqa: BLE001 - the stream close below still ends the call
                log.warning("twilio: REST hangup of %s failed; closing the stream", call_sid, exc_info=True)
        log.info("twilio: hanging up %s (%s)", call_sid, reason)
        if self.open:
            self.open = False
            await self._close()

    async def transfer(self, destination: str) -> dict[str, Any]:
        """Replace the call's TwiML with a `<Dial>`; Twilio stops the stream and dials."""
        try:
            await asyncio.to_thread(rest.redirect, self.serializer.call_sid, twiml.dial(destination))
        except Exception as exc:  # noqa: BLE001 - reported to the model as a failed transfer
            log.warning("twilio: transfer of %s to %s failed: %s", self.serializer.call_sid, destination, exc)
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "error": ""}
