"""The engine's `MediaPort` on each Asterisk media leg: encode nothing, time nothing, just send.

The engine hands over 20 ms frames already in the wire format and already paced; each port puts
them on its leg. Hangup and (warm) transfer go back to the call (`stasis.StasisCall`), which speaks ARI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.port import TransferOffer, TransferOutcome, WireFormat
from telephony.rtp import RtpEndpoint

from .audiosocket import AudioSocketSession
from .wsmedia import WebSocketMedia

if TYPE_CHECKING:
    from .stasis import StasisCall


class _AsteriskPort:
    supports_marks = False

    def __init__(self, call: StasisCall, wire: WireFormat) -> None:
        self.call = call
        self.wire = wire

    async def clear(self) -> None:
        """RTP and AudioSocket queue nothing on Asterisk's side: stopping the pacer is enough."""

    async def mark(self, name: str) -> None:
        pass

    async def hangup(self, reason: str) -> None:
        await self.call.hangup_from_engine(reason)

    async def transfer(self, destination: str) -> dict[str, Any]:
        return await self.call.transfer(destination)

    async def warm_transfer(self, offer: TransferOffer) -> TransferOutcome:
        """A dialled channel for the person, then ARI bridges (telephony/asterisk/warm.py)."""
        return await self.call.warm_transfer(offer)


class RtpPort(_AsteriskPort):
    def __init__(self, call: StasisCall, wire: WireFormat, endpoint: RtpEndpoint) -> None:
        super().__init__(call, wire)
        self.endpoint = endpoint

    async def send_audio(self, payload: bytes) -> None:
        self.endpoint.send_audio(payload)


class AudioSocketPort(_AsteriskPort):
    def __init__(self, call: StasisCall, wire: WireFormat, session: AudioSocketSession) -> None:
        super().__init__(call, wire)
        self.session = session

    async def send_audio(self, payload: bytes) -> None:
        self.session.send_audio(payload)


class WebSocketPort(_AsteriskPort):
    def __init__(self, call: StasisCall, wire: WireFormat, media: WebSocketMedia) -> None:
        super().__init__(call, wire)
        self.media = media
        self.supports_marks = media.marks

    async def send_audio(self, payload: bytes) -> None:
        await self.media.send_audio(payload)

    async def clear(self) -> None:
        await self.media.flush()

    async def mark(self, name: str) -> None:
        await self.media.mark(name)
