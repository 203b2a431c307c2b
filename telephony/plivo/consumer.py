"""The Plivo Audio Streams WebSocket: Plivo messages -> engine, nothing else.

The shared flow (token check before any audio, start, media, DTMF, checkpoints) is in
`telephony.streams`; this names Plivo's serializer, port and where its `start` keeps things.
"""

from __future__ import annotations

from agents.models import Carrier
from telephony.streams import CarrierStreamConsumer

from .port import PlivoPort
from .serializer import PlivoEvent, PlivoSerializer


class PlivoMediaConsumer(CarrierStreamConsumer):
    carrier = Carrier.PLIVO
    mark_event = "playedStream"  # Plivo's answer to a `checkpoint`
    closed_reason = "caller hung up"  # Plivo has no stop message: a closed socket is the hangup
    close_is_hangup = True

    def make_serializer(self) -> PlivoSerializer:
        return PlivoSerializer()

    def make_port(self) -> PlivoPort:
        return PlivoPort(self.serializer, self.send_text, self.close_socket, self._public_base())

    def token_of(self, event: PlivoEvent) -> str | None:
        return event.headers.get("token")  # extraHeaders="token=<hex>" of the XML answer

    def ids_of(self, event: PlivoEvent) -> tuple[str, str]:
        return event.stream_id, event.call_id

    def _public_base(self) -> str:
        """http(s) base of this server as the client reached it (used when PUBLIC_BASE_URL is unset)."""
        headers = dict(self.scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        scheme = "https" if self.scope.get("scheme") == "wss" else "http"
        return f"{scheme}://{host}" if host else ""
