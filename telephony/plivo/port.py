"""The engine's `MediaPort` for one Plivo Audio Stream: engine commands -> Plivo messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from engine.port import TransferOffer, TransferOutcome, WireFormat

from . import rest, warm
from .serializer import PlivoSerializer

log = logging.getLogger(__name__)


class PlivoPort:
    """u-law 8 kHz in 20 ms frames split to PLIVO_MAX_FRAME_BYTES; `playedStream` confirms
    checkpoints (never for audio dropped by `clearAudio`)."""

    supports_marks = True

    def __init__(
        self,
        serializer: PlivoSerializer,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
        public_base: str = "",
    ) -> None:
        self.wire = WireFormat(
            "ulaw",
            8000,
            max_payload_bytes=settings.PLIVO_MAX_FRAME_BYTES or None,
            lead_ms=settings.PLIVO_LEAD_MS,
        )
        self.serializer = serializer
        self._send = send
        self._close = close
        self._public_base = public_base
        self.open = True
        self.remote_ended = False
        self._hung_up = False

    async def _emit(self, text: str) -> None:
        if self.open:
            await self._send(text)

    async def send_audio(self, payload: bytes) -> None:
        await self._emit(self.serializer.play_audio(payload))

    async def clear(self) -> None:
        await self._emit(self.serializer.clear_audio())

    async def mark(self, name: str) -> None:
        await self._emit(self.serializer.checkpoint(name))

    async def hangup(self, reason: str) -> None:
        """End the call at Plivo (REST DELETE Call/{uuid}/), then close the stream."""
        if self._hung_up:
            return
        self._hung_up = True
        call_uuid = self.serializer.call_id
        if not self.remote_ended and call_uuid:
            try:
                await asyncio.to_thread(rest.end_call, call_uuid)
            except Exception:  # noqa: BLE001 - the stream close below still ends the stream
                log.warning("plivo: REST hangup of %s failed; closing the stream", call_uuid, exc_info=True)
        log.info("plivo: hanging up %s (%s)", call_uuid, reason)
        if self.open:
            self.open = False
            await self._close()

    async def transfer(self, destination: str) -> dict[str, Any]:
        """Transfer the A leg to our transfer view, which answers with a `<Dial>`."""
        base = settings.PUBLIC_BASE_URL or self._public_base
        url = base + reverse("plivo-transfer") + "?" + urlencode({"to": destination})
        try:
            await asyncio.to_thread(rest.transfer, self.serializer.call_id, url)
        except Exception as exc:  # noqa: BLE001 - reported to the model as a failed transfer
            log.warning("plivo: transfer of %s to %s failed: %s", self.serializer.call_id, destination, exc)
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "error": ""}

    async def warm_transfer(self, offer: TransferOffer) -> TransferOutcome:
        """Dial the person, brief them, and on a 1 bridge them with the caller in a conference
        (telephony/plivo/warm.py). Never raises."""
        return await warm.warm_transfer(self, offer, settings.PUBLIC_BASE_URL or self._public_base)
