"""The Twilio Media Streams WebSocket: Twilio messages -> engine, nothing else.

The shared flow (token check before any audio, start, media, DTMF, marks, stop) is in
`telephony.streams`; this names Twilio's serializer, port and where its `start` keeps things.
"""

from __future__ import annotations

from agents.models import Carrier
from telephony.streams import CarrierStreamConsumer

from . import signature
from .port import TwilioPort
from .serializer import TwilioEvent, TwilioSerializer


class TwilioMediaConsumer(CarrierStreamConsumer):
    carrier = Carrier.TWILIO
    mark_event = "mark"
    closed_reason = "stream closed"

    def make_serializer(self) -> TwilioSerializer:
        return TwilioSerializer()

    def make_port(self) -> TwilioPort:
        return TwilioPort(self.serializer, self.send_text, self.close_socket)

    def token_of(self, event: TwilioEvent) -> str | None:
        return event.parameters.get("token")  # <Parameter name="token"> of the TwiML answer

    def ids_of(self, event: TwilioEvent) -> tuple[str, str]:
        return event.stream_sid, event.call_sid

    def handshake_ok(self) -> bool:
        return signature.stream_is_valid(self.scope)
