"""Bridging two SIP legs' RTP in this process: the warm transfer's fallback when the trunk refuses
REFER (405/501/403) or the caller's side cannot complete the Replaces.

Each packet from one leg is sent on at once from the other leg's socket (no buffer, no pacing: the
senders pace), transcoded between PCMU and PCMA when the legs negotiated different codecs. Digits
pressed on one side are sent to the other as RFC 4733 events. The bridge lasts until either side
hangs up, and the other side then gets a BYE.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from engine.codec import DECODERS, ENCODERS

if TYPE_CHECKING:
    from .call import SipCall
    from .leg import PersonLeg

log = logging.getLogger(__name__)


def _converter(source: str, target: str):
    if source == target:
        return None
    decode, encode = DECODERS[source], ENCODERS[target]
    return lambda payload: encode(decode(payload))


class MediaRelay:
    def __init__(self, call: SipCall, leg: PersonLeg) -> None:
        assert call.rtp is not None and leg.rtp is not None and call.negotiated and leg.negotiated
        self.call = call
        self.leg = leg
        self._to_person = _converter(call.negotiated.encoding, leg.negotiated.encoding)
        self._to_caller = _converter(leg.negotiated.encoding, call.negotiated.encoding)
        self._tasks: set[asyncio.Task] = set()
        self.packets = [0, 0]  # caller -> person, person -> caller

    def start(self) -> None:
        """From now on the legs hear each other; the engine's audio and the caller's no longer meet."""
        assert self.call.rtp is not None and self.leg.rtp is not None
        self.call.rtp.on_audio = self._from_caller
        self.call.rtp.on_dtmf = lambda digit: self._digit(self.leg.rtp, digit)
        self.leg._on_audio = self._from_person
        self.leg._on_dtmf = lambda digit: self._digit(self.call.rtp, digit)
        log.info("sip: relaying media between %s and %s", self.call.call_id, self.leg.call_id)

    def _from_caller(self, payload: bytes, packet) -> None:
        rtp = self.leg.rtp
        if rtp is not None:
            rtp.send_audio(self._to_person(payload) if self._to_person else payload)
            self.packets[0] += 1

    def _from_person(self, payload: bytes, packet) -> None:
        rtp = self.call.rtp
        if rtp is not None:
            rtp.send_audio(self._to_caller(payload) if self._to_caller else payload)
            self.packets[1] += 1

    def _digit(self, rtp, digit: str) -> None:
        if rtp is None:
            return
        task = asyncio.get_running_loop().create_task(rtp.send_dtmf(digit))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> str:
        """Until one side hangs up; the other then gets a BYE. Returns who ended it."""
        caller = asyncio.ensure_future(self.call.ended.wait())
        person = asyncio.ensure_future(self.leg.ended.wait())
        try:
            await asyncio.wait({caller, person}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            caller.cancel()
            person.cancel()
        log.info(
            "sip: relay of %s ended (%d packets to the person, %d to the caller)",
            self.call.call_id,
            *self.packets,
        )
        if self.leg.ended.is_set():
            self.call.hangup("the person hung up")
            return "person"
        bye = self.leg.hangup("the caller hung up")
        if bye is not None:
            await bye
        return "caller"
