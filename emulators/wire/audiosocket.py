"""AudioSocket framing as asterisk.md §3b gives it (res_audiosocket.h): kind u8 | length u16 BE | payload.

Kinds: 0x00 hangup (length 0), 0x01 UUID (16 raw bytes, Asterisk's first message), 0x03 DTMF (one
ASCII digit), 0x10 slin 8 kHz, 0x11 12 k, 0x12 16 k, 0x13 24 k, 0x14 32 k, 0x15 44.1 k, 0x16 48 k,
0x17 96 k, 0x18 192 k (per-rate kinds from 20.17/21.12/22.7/23.1: see emulators.asterisk.facts),
0xFF error. Audio is signed 16-bit little-endian mono.
"""

from __future__ import annotations

import asyncio

HANGUP = 0x00
UUID = 0x01
DTMF = 0x03
ERROR = 0xFF
AUDIO_RATES: dict[int, int] = {
    0x10: 8000,
    0x11: 12000,
    0x12: 16000,
    0x13: 24000,
    0x14: 32000,
    0x15: 44100,
    0x16: 48000,
    0x17: 96000,
    0x18: 192000,
}
KIND_FOR_RATE = {rate: kind for kind, rate in AUDIO_RATES.items()}


def frame(kind: int, payload: bytes = b"") -> bytes:
    """One message; payloads over 65535 bytes do not fit the length field."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"{len(payload)} bytes do not fit one AudioSocket message")
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


def split(data: bytes) -> tuple[int, bytes, bytes]:
    """(kind, payload, rest) of the first whole message in `data`; ValueError if it is incomplete."""
    if len(data) < 3:
        raise ValueError("incomplete header")
    length = int.from_bytes(data[1:3], "big")
    if len(data) < 3 + length:
        raise ValueError("incomplete payload")
    return data[0], bytes(data[3 : 3 + length]), bytes(data[3 + length :])


async def read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next message from a stream (IncompleteReadError when the peer closes)."""
    header = await reader.readexactly(3)
    length = int.from_bytes(header[1:3], "big")
    return header[0], (await reader.readexactly(length) if length else b"")
