"""RTP over UDP for every transport that speaks it (Asterisk externalMedia, direct SIP).

Why one module: RTP framing, RFC 4733 DTMF and the symmetric-RTP rules are the same whoever
signals the call, and each of them has a classic failure (one-way audio behind NAT, doubled DTMF
digits, a crash on a stray packet) that should be fixed once.

API
---
Packets (RFC 3550):
    RtpPacket(payload_type, sequence, timestamp, ssrc, payload=b"", marker=False, csrcs=(),
              extension=None | (profile: int, data: bytes), padding=0)
    parse_rtp(data: bytes) -> RtpPacket          # raises RtpError on anything malformed
    RtpPacket.to_bytes() / build_rtp(packet)     # padding and extension data lengths are checked
    PT_PCMU = 0, PT_PCMA = 8, PT_TELEPHONE_EVENT = 101 (dynamic, negotiated; 101 is the usual choice)
    STATIC_PAYLOADS = {0: ("ulaw", 8000), 8: ("alaw", 8000)}; payload_type_for(encoding) -> 0 | 8

DTMF (RFC 4733 telephone-event):
    DtmfEvent(event, end, volume, duration); parse_dtmf(payload) / DtmfEvent.to_bytes()
    digit_to_event("5") -> 5, event_to_digit(11) -> "#"
    DtmfReceiver().feed(packet) -> "5" | None   # one digit per event: the end packet is sent 3x
                                                # and start packets repeat, both deduplicated by
                                                # (ssrc, timestamp); an event whose end packets were
                                                # all lost is reported when the next one starts.

Sending (one stream per call):
    RtpSender(payload_type, clock_rate=8000, ssrc=None, telephone_event_pt=101)
    .audio(payload, samples=None) -> bytes       # next packet: seq +1, ts += samples (default
                                                 # len(payload) for G.711), marker on the first
    .dtmf(digit, duration_ms=100, step_ms=20) -> list[bytes]   # marker on the first, end 3x,
                                                 # all share one timestamp; the audio clock then
                                                 # skips the event's duration

Socket:
    endpoint = await RtpEndpoint.open(bind_host="0.0.0.0", port=0 | ports=(10000, 20000),
                                      advertise_host="203.0.113.7", remote=None | (host, port),
                                      latch=False, on_audio=cb(payload, packet), on_dtmf=cb(digit),
                                      payload_types={0, 8}, telephone_event_pt=101)
    endpoint.local_address      # (host, port) actually bound
    endpoint.advertised_address # what to put in SDP / externalMedia external_host
    endpoint.remote             # where we send; learnt from the first valid packet when None
    endpoint.send_audio(payload, samples=None) / await endpoint.send_dtmf("5")
    endpoint.sender             # the RtpSender (ssrc, sequence, timestamp)
    endpoint.stats              # RtpStats: received, sent, malformed, foreign, unknown_pt, unsent
    endpoint.close()

Rules the endpoint keeps: it binds one socket and sends from it (Asterisk's strict RTP and NAT
both need the reply to come from the port we receive on); with no remote it learns the source of
the first valid packet (symmetric RTP / comedia); with a remote it drops packets from any other
source, unless `latch=True`, where the first valid packet's source replaces the signalled address
once (a phone behind NAT advertising a private address). Malformed packets are counted, never
raised. Callbacks run on the event loop and must not block; an exception in one is logged once and
counted, and `on_fault` tells the owner, which ends that call as failed; no other call notices.
The bind address and the advertised address are separate
settings: advertising a bind-all address (0.0.0.0) or a container-internal one is the first cause
of one-way audio.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .guard import FrameGate, RateLimitedWarnings

log = logging.getLogger(__name__)

RTP_VERSION = 2
PT_PCMU = 0
PT_PCMA = 8
PT_TELEPHONE_EVENT = 101
STATIC_PAYLOADS: dict[int, tuple[str, int]] = {PT_PCMU: ("ulaw", 8000), PT_PCMA: ("alaw", 8000)}
_HEADER = struct.Struct("!BBHII")


class RtpError(ValueError):
    """A datagram that is not a valid RTP packet."""


def payload_type_for(encoding: str) -> int:
    """Static payload type of a G.711 encoding name ("ulaw"/"pcmu", "alaw"/"pcma")."""
    name = encoding.lower()
    if name in ("ulaw", "pcmu", "mulaw"):
        return PT_PCMU
    if name in ("alaw", "pcma"):
        return PT_PCMA
    raise ValueError(f"no static RTP payload type for {encoding!r}")


# ---------------------------------------------------------------------------------------------------
# Packets
@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None  # (profile-defined 16 bits, data in 32-bit words)
    padding: int = 0  # padding bytes after the payload (count included in the last byte)

    def to_bytes(self) -> bytes:
        return build_rtp(self)


def build_rtp(packet: RtpPacket) -> bytes:
    """Serialise a packet; raises ValueError for values that do not fit the header."""
    if not 0 <= packet.payload_type <= 127:
        raise ValueError("payload type must be 0..127")
    if len(packet.csrcs) > 15:
        raise ValueError("at most 15 CSRCs")
    if not 0 <= packet.padding <= 255:
        raise ValueError("padding must be 0..255 bytes")
    first = (RTP_VERSION << 6) | (0x20 if packet.padding else 0) | (0x10 if packet.extension else 0)
    first |= len(packet.csrcs)
    second = (0x80 if packet.marker else 0) | packet.payload_type
    parts = [
        _HEADER.pack(
            first, second, packet.sequence & 0xFFFF, packet.timestamp & 0xFFFFFFFF, packet.ssrc & 0xFFFFFFFF
        )
    ]
    parts.extend(struct.pack("!I", c & 0xFFFFFFFF) for c in packet.csrcs)
    if packet.extension is not None:
        profile, data = packet.extension
        if len(data) % 4:
            raise ValueError("extension data must be a multiple of 4 bytes")
        parts.append(struct.pack("!HH", profile & 0xFFFF, len(data) // 4) + data)
    parts.append(packet.payload)
    if packet.padding:
        parts.append(b"\x00" * (packet.padding - 1) + bytes([packet.padding]))
    return b"".join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one datagram; RtpError for a wrong version, truncation or impossible lengths."""
    if len(data) < 12:
        raise RtpError(f"{len(data)} bytes is shorter than an RTP header")
    first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}")
    end = len(data)
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0:
            raise RtpError("padding bit set with a zero padding count")
        end -= padding
    offset = 12
    cc = first & 0x0F
    if offset + 4 * cc > end:
        raise RtpError("CSRC list runs past the end")
    csrcs = struct.unpack_from(f"!{cc}I", data, offset) if cc else ()
    offset += 4 * cc
    extension = None
    if first & 0x10:
        if offset + 4 > end:
            raise RtpError("extension header runs past the end")
        profile, words = struct.unpack_from("!HH", data, offset)
        offset += 4
        if offset + 4 * words > end:
            raise RtpError("extension data runs past the end")
        extension = (profile, bytes(data[offset : offset + 4 * words]))
        offset += 4 * words
    if end < offset:
        raise RtpError("padding count larger than the payload")
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrcs=tuple(csrcs),
        extension=extension,
        padding=padding,
    )


# ---------------------------------------------------------------------------------------------------
# RFC 4733 telephone-event
_DIGITS = "0123456789*#ABCD"


def digit_to_event(digit: str) -> int:
    """Event code of a DTMF digit: 0-9, * = 10, # = 11, A-D = 12-15."""
    index = _DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return index


def event_to_digit(event: int) -> str | None:
    """The digit of an event code, or None (16 = flash and higher are not digits)."""
    return _DIGITS[event] if 0 <= event < len(_DIGITS) else None


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    event: int
    end: bool = False
    volume: int = 10  # dBm0 below zero, 0..63
    duration: int = 0  # timestamp units since the event's start

    def to_bytes(self) -> bytes:
        return struct.pack(
            "!BBH",
            self.event & 0xFF,
            (0x80 if self.end else 0) | (self.volume & 0x3F),
            self.duration & 0xFFFF,
        )

    @property
    def digit(self) -> str | None:
        return event_to_digit(self.event)


def parse_dtmf(payload: bytes) -> DtmfEvent:
    if len(payload) < 4:
        raise RtpError(f"telephone-event payload of {len(payload)} bytes (need 4)")
    event, flags, duration = struct.unpack_from("!BBH", payload)
    return DtmfEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


class DtmfReceiver:
    """Turns a stream of telephone-event packets into digits, each reported exactly once."""

    def __init__(self, memory: int = 32) -> None:
        self._seen: OrderedDict[tuple[int, int], bool] = OrderedDict()  # key -> reported
        self._memory = memory
        self._pending: tuple[tuple[int, int], str] | None = None  # started, end not seen yet

    def feed(self, packet: RtpPacket) -> str | None:
        """Feed one telephone-event packet; returns a digit when an event completes.

        An event whose end packets were all lost is reported when the next event starts, so a digit
        is never lost; a redundant end (or a late start) of an event already reported is ignored.
        """
        try:
            event = parse_dtmf(packet.payload)
        except RtpError:
            return None
        digit = event.digit
        key = (packet.ssrc, packet.timestamp)
        if digit is None or self._seen.get(key):
            return None
        result: str | None = None
        if self._pending and self._pending[0] != key:
            result = self._flush_pending()
        if event.end:
            if result is not None:
                # Two digits complete at once (the earlier lost its end): report the earlier now and
                # keep this one pending for the next packet or `flush()`.
                self._pending = (key, digit)
                self._remember(key, False)
                return result
            self._remember(key, True)
            self._pending = None
            return digit
        self._pending = (key, digit)
        self._remember(key, False)
        return result

    def flush(self) -> str | None:
        """Report an event still waiting for its end (call at the end of the stream)."""
        return self._flush_pending()

    def _flush_pending(self) -> str | None:
        if not self._pending:
            return None
        key, digit = self._pending
        self._pending = None
        self._remember(key, True)
        return digit

    def _remember(self, key: tuple[int, int], reported: bool) -> None:
        self._seen[key] = reported
        self._seen.move_to_end(key)
        while len(self._seen) > self._memory:
            self._seen.popitem(last=False)


# ---------------------------------------------------------------------------------------------------
# Sending
class RtpSender:
    """Sequence, timestamp and SSRC of one outgoing stream (random starts, RFC 3550 §5.1)."""

    def __init__(
        self,
        payload_type: int,
        clock_rate: int = 8000,
        ssrc: int | None = None,
        telephone_event_pt: int = PT_TELEPHONE_EVENT,
    ) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.telephone_event_pt = telephone_event_pt
        self.ssrc = random.getrandbits(32) if ssrc is None else ssrc
        self.sequence = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self._first = True

    def _next(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        packet = RtpPacket(payload_type, self.sequence, timestamp, self.ssrc, payload, marker)
        self.sequence = (self.sequence + 1) & 0xFFFF
        return build_rtp(packet)

    def audio(self, payload: bytes, samples: int | None = None, marker: bool = False) -> bytes:
        """The next audio packet; `samples` defaults to len(payload) (G.711: one byte a sample)."""
        data = self._next(self.payload_type, self.timestamp, payload, marker or self._first)
        self._first = False
        self.timestamp = (self.timestamp + (len(payload) if samples is None else samples)) & 0xFFFFFFFF
        return data

    def dtmf(self, digit: str, duration_ms: int = 100, step_ms: int = 20, volume: int = 10) -> list[bytes]:
        """All packets of one RFC 4733 event, to be sent `step_ms` apart (the last three at once).

        They share the event's start timestamp; the audio clock then moves past the event.
        """
        code = digit_to_event(digit)
        start = self.timestamp
        step = self.clock_rate * step_ms // 1000
        total = max(step, self.clock_rate * duration_ms // 1000)
        packets = []
        elapsed = step
        while elapsed < total:
            event = DtmfEvent(code, False, volume, elapsed)
            packets.append(self._next(self.telephone_event_pt, start, event.to_bytes(), elapsed == step))
            elapsed += step
        end = DtmfEvent(code, True, volume, min(total, 0xFFFF)).to_bytes()
        for _ in range(3):
            packets.append(self._next(self.telephone_event_pt, start, end, not packets))
        self.timestamp = (start + total) & 0xFFFFFFFF
        self._first = False
        return packets


# ---------------------------------------------------------------------------------------------------
# Socket
@dataclass
class RtpStats:
    received: int = 0
    sent: int = 0
    malformed: int = 0  # not RTP at all
    foreign: int = 0  # valid RTP from a source other than the remote
    unknown_pt: int = 0  # payload types we do not take
    unsent: int = 0  # send attempts before the remote was known
    callback_errors: int = 0
    dtmf: int = 0
    dropped: int = 0  # oversized, or over the packet-rate cap (a flood), before any parsing


AudioCallback = Callable[[bytes, RtpPacket], None]
DtmfCallback = Callable[[str], None]
FaultCallback = Callable[[Exception], None]


@dataclass
class RtpEndpoint(asyncio.DatagramProtocol):
    """One UDP socket carrying one RTP stream both ways (see the module docstring for the rules)."""

    advertise_host: str = ""
    remote: tuple[str, int] | None = None
    latch: bool = False
    on_audio: AudioCallback | None = None
    on_dtmf: DtmfCallback | None = None
    on_fault: FaultCallback | None = None  # a callback raised: the owner ends its call (once)
    payload_types: frozenset[int] = frozenset({PT_PCMU, PT_PCMA})
    telephone_event_pt: int = PT_TELEPHONE_EVENT
    payload_type: int = PT_PCMU
    stats: RtpStats = field(default_factory=RtpStats)
    # A real packet is 172 bytes (160 of G.711), 50 a second; DTMF and a network catching up burst.
    max_packet_bytes: int = 2048
    max_packet_rate: float = 100.0
    packet_burst: float = 250.0
    transport: asyncio.DatagramTransport | None = field(default=None, repr=False)
    local_address: tuple[str, int] = ("", 0)
    closed: asyncio.Future | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.sender = RtpSender(self.payload_type, telephone_event_pt=self.telephone_event_pt)
        self.dtmf_receiver = DtmfReceiver()
        self._latched = False
        self.gate = FrameGate(self.max_packet_bytes, self.max_packet_rate, self.packet_burst)
        self.warnings = RateLimitedWarnings(log)

    def use_codec(self, payload_type: int, telephone_event_pt: int) -> None:
        """Narrow to the codec an answer chose (we offered several before knowing it); call this
        before the first frame is sent, as it starts a new sender."""
        self.payload_type = payload_type
        self.payload_types = frozenset({payload_type})
        self.telephone_event_pt = telephone_event_pt
        self.sender = RtpSender(payload_type, telephone_event_pt=telephone_event_pt)

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        bind_host: str = "0.0.0.0",
        port: int = 0,
        ports: tuple[int, int] | None = None,
        **kwargs,
    ) -> RtpEndpoint:
        """Bind `port` (0 = any), or an even port from the inclusive range `ports`."""
        loop = asyncio.get_running_loop()
        endpoint = cls(**kwargs)
        endpoint.closed = loop.create_future()
        family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        candidates = [port]
        if ports:
            low, high = ports
            low += low % 2
            evens = list(range(low, high + 1, 2))
            start = random.randrange(len(evens)) if evens else 0
            candidates = evens[start:] + evens[:start]
        last_error: OSError | None = None
        for candidate in candidates:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((bind_host, candidate))
            except OSError as exc:
                sock.close()
                last_error = exc
                continue
            sock.setblocking(False)
            await loop.create_datagram_endpoint(lambda: endpoint, sock=sock)
            return endpoint
        raise OSError(f"no free RTP port on {bind_host} in {ports or port}: {last_error}")

    @property
    def advertised_address(self) -> tuple[str, int]:
        host = self.advertise_host or self.local_address[0]
        return host, self.local_address[1]

    # -- DatagramProtocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.local_address = transport.get_extra_info("sockname")[:2]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the peer is not there (yet); keep the socket.
        log.debug("rtp: socket error %s", exc)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        source = (addr[0], addr[1])
        dropped = self.gate.admit(len(data))
        if dropped is not None:  # one socket flooding must not stall every call on the loop
            self.stats.dropped += 1
            self.warnings.warn(
                dropped, "rtp: packet from %s:%s dropped, %s (%d bytes)", *source, dropped, len(data)
            )
            return
        try:
            packet = parse_rtp(data)
        except RtpError as exc:
            self.stats.malformed += 1
            if self.stats.malformed in (1, 10, 100) or self.stats.malformed % 1000 == 0:
                log.warning(
                    "rtp: dropped malformed packet from %s:%s (%s); %d so far",
                    *source,
                    exc,
                    self.stats.malformed,
                )
            return
        if self.remote is None:
            self.remote = source
            self._latched = True
        elif source != self.remote:
            if self.latch and not self._latched:
                log.info("rtp: latching to %s:%s (signalled %s:%s)", *source, *self.remote)
                self.remote = source
                self._latched = True
            else:
                self.stats.foreign += 1
                return
        self._latched = True
        self.stats.received += 1
        try:
            if packet.payload_type == self.telephone_event_pt:
                digit = self.dtmf_receiver.feed(packet)
                if digit is not None:
                    self.stats.dtmf += 1
                    if self.on_dtmf:
                        self.on_dtmf(digit)
            elif packet.payload_type in self.payload_types:
                if self.on_audio:
                    self.on_audio(packet.payload, packet)
            else:
                self.stats.unknown_pt += 1
        except Exception as exc:  # a consumer bug must not take the socket (or the process) down
            self.stats.callback_errors += 1
            if self.stats.callback_errors > 1:
                return  # reported once; the owner is already ending the call
            log.error("rtp: handling a packet failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
            if self.on_fault is not None:
                self.on_fault(exc)

    # -- sending ---------------------------------------------------------------------------------
    def _send(self, data: bytes) -> bool:
        if self.transport is None or self.remote is None:
            self.stats.unsent += 1
            return False
        self.transport.sendto(data, self.remote)
        self.stats.sent += 1
        return True

    def send_audio(self, payload: bytes, samples: int | None = None) -> bool:
        """Send one frame now (the caller paces); False if there is nowhere to send yet."""
        if self.remote is None or self.transport is None:
            self.stats.unsent += 1
            return False
        return self._send(self.sender.audio(payload, samples))

    async def send_dtmf(self, digit: str, duration_ms: int = 100) -> None:
        """Send an RFC 4733 event in real time (one packet per 20 ms, the end three times)."""
        packets = self.sender.dtmf(digit, duration_ms)
        for index, data in enumerate(packets):
            self._send(data)
            if index < len(packets) - 3:
                await asyncio.sleep(0.02)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    @property
    def is_closed(self) -> bool:
        return self.transport is None
