"""AudioSocket framing and the TCP server, over real sockets."""

from __future__ import annotations

import asyncio
import struct
import uuid

from telephony.asterisk.audiosocket import (
    KIND_DTMF,
    KIND_HANGUP,
    KIND_UUID,
    AudioSocketServer,
    AudioSocketSession,
    audio_kind,
    encode,
    read_message,
)


async def _until(predicate) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


def test_frames_match_the_reference_bytes():
    assert encode(0x10, b"\x01\x00" * 160)[:3] == bytes.fromhex("100140")
    assert encode(0x12, bytes(640))[:3] == bytes.fromhex("120280")
    assert encode(KIND_DTMF, b"5") == bytes.fromhex("03000135")
    assert encode(KIND_HANGUP) == bytes.fromhex("000000")
    assert audio_kind(16000, per_rate_kinds=True) == 0x12
    assert audio_kind(16000, per_rate_kinds=False) == 0x10  # before 22.7 everything is 0x10


async def test_server_handles_every_kind_and_survives_bad_connections():
    """Thrown at it: a connection that sends garbage instead of a UUID, one with an unknown UUID, and
    inside a good session an unknown kind (0x42), empty and odd-length audio and a wrong-rate kind.
    Survives: the good session keeps its audio and DTMF, its replies use the per-rate kind."""
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    audio: list[bytes] = []
    digits: list[str] = []
    closed: list[str] = []
    session = AudioSocketSession(
        uuid.uuid4(), 16000, True, on_audio=audio.append, on_dtmf=digits.append, on_close=closed.append
    )
    server.register(session)
    try:
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        w1.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await r1.read() == b""  # closed on us
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        w2.write(encode(KIND_UUID, uuid.uuid4().bytes))
        assert await r2.read() == b""

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode(KIND_UUID, session.call_uuid.bytes))
        writer.write(encode(0x42, b"junk"))
        writer.write(encode(0x12, b""))
        writer.write(encode(0x12, b"\x01\x02\x03"))
        writer.write(encode(0x10, bytes(320)))  # legacy 0x10: taken at the session's rate
        writer.write(encode(0x11, bytes(480)))  # 12 kHz on a 16 kHz session: refused
        writer.write(encode(0x12, b"\x01\x00" * 320))
        writer.write(encode(KIND_DTMF, b"#"))
        await writer.drain()
        await asyncio.wait_for(session.connected.wait(), 2)
        await _until(lambda: digits)
        assert audio == [bytes(320), b"\x01\x00" * 320] and digits == ["#"]
        assert session.stats.unknown_kinds == 1 and session.stats.bad_audio == 3
        assert session.send_audio(bytes(640))
        kind, payload = await read_message(reader)
        assert (kind, len(payload)) == (0x12, 640)
        writer.write(encode(KIND_HANGUP))
        await writer.drain()
        await _until(lambda: closed)
        assert closed == ["Asterisk hung up"] and server.rejected == 2
        writer.close()
    finally:
        await server.close()


def test_header_is_big_endian_length():
    assert struct.unpack("!BH", encode(0x10, bytes(0x1234))[:3]) == (0x10, 0x1234)
