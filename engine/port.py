"""The contract between a transport and the engine.

A transport only translates its wire protocol: it tells the engine what its audio looks like
(`WireFormat`), offers a `MediaPort` for the engine's commands, and pushes what arrives into the
`CallHandle` returned by `start_call`. Pacing, buffering and all timing live in the engine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class WireFormat:
    """Audio on the carrier side: encoding and rate the same both ways."""

    encoding: str  # "ulaw", "alaw" or "pcm" (16-bit little-endian)
    rate: int  # 8000 or 16000
    frame_ms: int = 20  # agent audio per message the playout sends (what arrives may be any size)
    # Largest payload the carrier accepts per message (Plivo: 160 bytes); frames are split to fit.
    max_payload_bytes: int | None = None
    # How far ahead of real time the playout may send, for a carrier that buffers what it is sent and
    # drops it all on `clear` (Twilio, Plivo): a reply's first words are not held to the frame clock.
    lead_ms: int = 0

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "pcm" else 1

    @property
    def frame_bytes(self) -> int:
        return self.rate * self.frame_ms // 1000 * self.bytes_per_sample


@dataclass(frozen=True)
class TransferOffer:
    """A warm transfer the engine asks the transport for: dial the person, brief them, bridge on yes."""

    destination: str  # the target's destination (E.164 number, sip: URI, Asterisk endpoint)
    target_name: str  # "Sales"
    brief: str  # what the person hears before pressing 1 / saying yes (built by engine/transfer.py)
    caller_number: str
    ring_seconds: float = 25.0  # no answer after this -> "no-answer"
    our_number: str = ""  # the number of ours on this call (the caller ID a carrier lets us dial from)


TRANSFER_STATUSES = ("accepted", "declined", "no-answer", "busy", "failed")


@dataclass(frozen=True)
class TransferOutcome:
    """What became of a `TransferOffer`."""

    status: str  # one of TRANSFER_STATUSES
    detail: str = ""  # for the log and the model ("the carrier refused the dial: ...")


@runtime_checkable
class MediaPort(Protocol):
    """What a transport offers the engine for one call: wire encoding and commands, no timing."""

    wire: WireFormat
    # True when the carrier confirms playback of a mark (Twilio `mark`, Plivo `playedStream`,
    # Asterisk 22.8+ media marks); the engine then waits for the confirmation before hanging up.
    supports_marks: bool

    async def send_audio(self, payload: bytes) -> None:
        """Send one paced frame (already encoded for the wire, at most `max_payload_bytes`)."""

    async def clear(self) -> None:
        """Barge-in: tell the carrier to drop audio it has queued but not played."""

    async def mark(self, name: str) -> None:
        """Ask the carrier to report when playback reaches this point (see `CallHandle.mark_played`)."""

    async def hangup(self, reason: str) -> None:
        """End the call on the carrier side. Called once, after the last frame has played."""

    async def transfer(self, destination: str) -> dict[str, Any]:
        """Hand the caller to a number or SIP URI; returns {"ok": bool, "error": str}."""

    # Optional (a port without it cannot warm-transfer; the tool then says so):
    # async def warm_transfer(self, offer: TransferOffer) -> TransferOutcome:
    #     """Dial the person, brief them, and on acceptance bridge them with the caller (the engine's
    #     media leg then ends without hanging up the caller). Must return (never raise) within
    #     offer.ring_seconds + ~30 s; the engine cancels it if the caller hangs up meanwhile."""


@dataclass
class CallRequest:
    """What a transport knows when a call arrives."""

    carrier: str  # telephony.models.Carrier value
    direction: str = "inbound"
    from_number: str = ""
    to_number: str = ""
    carrier_call_id: str = ""
    # A Call row created earlier (a carrier webhook, an outbound dial); otherwise one is created.
    call_id: uuid.UUID | None = None
    # Asterisk routes by dialplan context and extension instead of a number.
    context: str = ""
    extension: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
