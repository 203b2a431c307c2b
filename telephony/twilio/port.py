"""The engine's `MediaPort` for one Twilio Media Stream: engine commands -> Twilio messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from engine.port import TransferOffer, TransferOutcome, WireFormat
from telephony.outbound.failures import describe

from . import handoff, rest, twiml
from .serializer import TwilioSerializer

log = logging.getLogger(__name__)

# After the ring time, the brief and the person's <Gather> still take this long at most.
ANSWER_MARGIN_S = 25.0


class TwilioPort:
    """u-law 8 kHz (TWILIO_FRAME_MS per message out, 20 ms in); Twilio confirms playback with `mark` (and
    returns pending marks on `clear`)."""

    supports_marks = True

    def __init__(
        self,
        serializer: TwilioSerializer,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self.wire = WireFormat(
            "ulaw", 8000, frame_ms=settings.TWILIO_FRAME_MS, lead_ms=settings.TWILIO_LEAD_MS
        )
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

    async def warm_transfer(self, offer: TransferOffer) -> TransferOutcome:
        """Dial the person with the brief in a <Gather> (telephony/twilio/handoff.py waits for their
        answer); on 1 / yes they join a conference room and the caller's call is updated to join it
        too (the stream ends: the engine leaves). Otherwise the caller stays on the stream."""
        if not settings.PUBLIC_BASE_URL:
            return TransferOutcome(
                "failed", "PUBLIC_BASE_URL is not set, so Twilio cannot send the person's answer"
            )
        if not offer.our_number:
            return TransferOutcome("failed", "no number of ours on this call to dial the person from")
        token = handoff.new_token()
        waiter = handoff.Waiter(token, room=f"handoff-{token}")
        action, status_url = handoff.urls(token)
        person = ""
        decided = ""
        try:
            await waiter.open(offer.ring_seconds + ANSWER_MARGIN_S)
            try:
                person = await asyncio.to_thread(
                    rest.dial_person,
                    offer.destination,
                    offer.our_number,
                    twiml.person_brief(offer.brief, action),
                    status_url,
                    offer.ring_seconds,
                )
            except Exception as exc:  # noqa: BLE001 - told to the model as a failed transfer
                log.warning("twilio: dialling %s for a warm transfer failed: %s", offer.destination, exc)
                decided = "failed"
                return TransferOutcome("failed", describe("twilio", exc))
            log.info(
                "twilio: warm transfer of %s: dialled %s (%s)",
                self.serializer.call_sid,
                offer.destination,
                person,
            )
            decision = await waiter.result(offer.ring_seconds + ANSWER_MARGIN_S)
            if decision is None:
                decided = "no-answer"
                self._end_person(person)
                return TransferOutcome("no-answer", "no answer from the person in time")
            if decision["status"] != "accepted":
                return TransferOutcome(decision["status"], decision.get("detail", ""))
            try:
                await asyncio.to_thread(
                    rest.redirect, self.serializer.call_sid, twiml.conference(waiter.room)
                )
            except Exception as exc:  # noqa: BLE001 - the caller hung up meanwhile, or Twilio refused
                log.warning("twilio: moving %s into the conference failed: %s", self.serializer.call_sid, exc)
                self._end_person(person)
                return TransferOutcome(
                    "failed", f"the caller could not join the person: {describe('twilio', exc)}"
                )
            self.remote_ended = True  # Twilio has the caller in the conference: never hang them up
            return TransferOutcome("accepted", decision.get("detail", ""))
        except asyncio.CancelledError:
            decided = "abandoned"
            self._end_person(person)  # the caller hung up while the person's phone rang
            raise
        finally:
            await asyncio.shield(waiter.close(decided))

    @staticmethod
    def _end_person(sid: str) -> None:
        """Hang up the person's leg (in a worker thread, not awaited: this may run while cancelled)."""
        if sid:
            asyncio.get_running_loop().run_in_executor(None, rest.end_call, sid)
