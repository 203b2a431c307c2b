"""RTP packets as RFC 3550 §5.1 lays them out, and RFC 4733 telephone-events, for the emulators.

Fixed header, 12 bytes, network order:
    byte 0: V (2 bits, = 2) | P (padding) | X (extension) | CC (CSRC count, 4 bits)
    byte 1: M (marker) | PT (7 bits)
    bytes 2-3: sequence number; 4-7: timestamp; 8-11: SSRC
then CC 32-bit CSRCs; with X, a 4-byte extension header (16-bit profile data, 16-bit length in
32-bit words) and its words; with P, the last byte counts the padding bytes (itself included).
RFC 4733 event payload: event (8 bits) | E | R | volume (6 bits) | duration (16 bits).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

VERSION = 2
LAST_STATIC_PT = 34  # Asterisk's AST_RTP_PT_LAST_STATIC (asterisk.md §0.1)
_FIXED = struct.Struct("!BBHII")


class BadPacket(ValueError):
    """Bytes that are not an RTP packet."""


@dataclass(frozen=True, slots=True)
class Packet:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()


def pack(packet: Packet) -> bytes:
    """A packet with no extension and no padding (what the emulators send)."""
    first = (VERSION << 6) | len(packet.csrcs)
    second = (0x80 if packet.marker else 0) | (packet.payload_type & 0x7F)
    header = _FIXED.pack(
        first, second, packet.sequence & 0xFFFF, packet.timestamp & 0xFFFFFFFF, packet.ssrc & 0xFFFFFFFF
    )
    return header + b"".join(struct.pack("!I", c) for c in packet.csrcs) + packet.payload


def unpack(data: bytes) -> Packet:
    """Parse one datagram (CSRCs, extension and padding handled); BadPacket if it cannot be RTP."""
    if len(data) < _FIXED.size:
        raise BadPacket("shorter than the 12-byte fixed header")
    first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != VERSION:
        raise BadPacket(f"version {first >> 6}")
    end = len(data)
    if first & 0x20:
        end -= data[-1]
        if data[-1] == 0:
            raise BadPacket("padding flag with a zero count")
    offset = _FIXED.size + 4 * (first & 0x0F)
    csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, _FIXED.size) if offset <= len(data) else None
    if csrcs is None:
        raise BadPacket("CSRC list past the end")
    if first & 0x10:
        if offset + 4 > end:
            raise BadPacket("extension header past the end")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    if offset > end:
        raise BadPacket("header longer than the packet")
    return Packet(
        second & 0x7F, sequence, timestamp, ssrc, bytes(data[offset:end]), bool(second & 0x80), csrcs
    )


_EVENTS = "0123456789*#ABCD"  # RFC 4733 §3.2: 0-9, * = 10, # = 11, A-D = 12-15


class Stream:
    """One outgoing stream: random SSRC, sequence and timestamp starts (RFC 3550 §5.1)."""

    def __init__(self, payload_type: int, clock_rate: int = 8000, event_pt: int = 101) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.event_pt = event_pt
        self.ssrc = random.getrandbits(32)
        self.sequence = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self._started = False

    def _packet(self, pt: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        data = pack(Packet(pt, self.sequence, timestamp, self.ssrc, payload, marker))
        self.sequence = (self.sequence + 1) & 0xFFFF
        return data

    def audio(self, payload: bytes, samples: int, marker: bool = False) -> bytes:
        """The next audio packet; the marker is set on the stream's first packet too."""
        data = self._packet(self.payload_type, self.timestamp, payload, marker or not self._started)
        self._started = True
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        return data

    def skip(self, samples: int) -> None:
        """Time passes with nothing sent (silence suppression)."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF

    def dtmf(self, digit: str, duration_ms: int = 100, volume: int = 10) -> list[bytes]:
        """One event: a packet per 20 ms sharing the start timestamp (marker on the first), end sent 3x."""
        event = _EVENTS.index(digit.upper())
        step = self.clock_rate // 50
        total = max(step, self.clock_rate * duration_ms // 1000)
        start = self.timestamp
        packets = [
            self._packet(self.event_pt, start, struct.pack("!BBH", event, volume, d), d == step)
            for d in range(step, total, step)
        ]
        end = struct.pack("!BBH", event, 0x80 | volume, min(total, 0xFFFF))
        packets += [self._packet(self.event_pt, start, end, not packets and i == 0) for i in range(3)]
        self.timestamp = (start + total) & 0xFFFFFFFF
        self._started = True
        return packets
