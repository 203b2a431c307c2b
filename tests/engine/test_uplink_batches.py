"""How caller audio is cut into messages to Gemini: short while the caller speaks, batched while quiet.

Gemini's turn detection decides a barge-in on caller speech it has received and the end of a turn on
silence it has received; a 40 ms batch waiting to fill holds back both. Quiet stretches (the caller
listening to the agent) are most of a call, and there each message costs a WebSocket frame and a
TLS write, so they go up in GEMINI_INPUT_BATCH_MS batches.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engine import uplink as uplink_module
from engine.codec import DECODERS, pcm_to_ulaw
from engine.port import WireFormat
from engine.uplink import Uplink

pytestmark = pytest.mark.asyncio

FRAME = 160  # samples in a 20 ms frame at 8 kHz


def ulaw_frame(amplitude: int) -> bytes:
    tone = (amplitude * np.sin(np.arange(FRAME) * 2 * np.pi * 440 / 8000)).astype("<i2").tobytes()
    return pcm_to_ulaw(tone)


async def test_speech_goes_up_frame_by_frame_and_quiet_in_batches(monkeypatch):
    """Thrown at it: 20 ms frames from a phone line, quiet, then speech, then quiet again past the
    window after speech (shortened here to 0.2 s). Holds: quiet goes up as 40 ms messages; from the
    first spoken frame each 20 ms frame is sent before the next one arrives (no half-filled batch
    waits), also during the end-of-turn silence right after; once that window has passed, 40 ms again.
    Nothing is lost or reordered: the bytes sent are the bytes pushed."""
    monkeypatch.setattr(uplink_module, "QUICK_AFTER_VOICE_S", 0.2)
    uplink = Uplink(WireFormat("ulaw", 8000), 40, lambda pcm: None)
    connected = asyncio.Event()
    connected.set()
    sent: list[bytes] = []

    async def send(chunk: bytes) -> None:
        sent.append(chunk)

    sender = asyncio.create_task(uplink.run(send, connected))
    pushed = bytearray()

    async def frames(amplitude: int, count: int) -> list[bytes]:
        """Push `count` frames 20 ms apart; the messages sent meanwhile."""
        start = len(sent)
        for _ in range(count):
            frame = ulaw_frame(amplitude)
            pushed.extend(frame)
            uplink.push(frame)
            await asyncio.sleep(0.02)
        return sent[start:]

    try:
        quiet = await frames(100, 10)
        assert [len(m) for m in quiet] == [640] * 5  # 40 ms of 16-bit 8 kHz per message

        start = len(sent)
        speech_sizes = []
        for _ in range(10):
            uplink.push(ulaw_frame(8000))
            await asyncio.sleep(0)  # the sender's turn: the frame must be out now, not 20 ms later
            await asyncio.sleep(0)
            speech_sizes.append(sum(len(m) for m in sent[start:]))
            await asyncio.sleep(0.02)
        assert speech_sizes == [320 * n for n in range(1, 11)], speech_sizes
        pushed.extend(ulaw_frame(8000) * 10)

        just_after = await frames(100, 5)  # the end-of-turn silence: still frame by frame
        assert [len(m) for m in just_after] == [320] * 5
        await frames(100, 10)  # past the window
        later = await frames(100, 10)
        assert later and all(len(m) == 640 for m in later), [len(m) for m in later]
    finally:
        sender.cancel()

    decoded = DECODERS["ulaw"](bytes(pushed))
    assert b"".join(sent) == decoded[: len(b"".join(sent))]


async def test_a_silent_lines_end_of_turn_silence_goes_up_as_quickly_as_speech(monkeypatch):
    """Thrown at it: 100 ms quiet batches on a line that sends speech and then nothing at all (DTX).
    Holds: the comfort silence that ends the caller's turn starts within about 100 ms of the last
    packet (it is topped up every FEED_TICK_MS, not once per 100 ms batch) and goes up in 20 ms
    messages; once the window after speech has passed (0.3 s here), in 100 ms batches."""
    monkeypatch.setattr(uplink_module, "QUICK_AFTER_VOICE_S", 0.3)
    uplink = Uplink(WireFormat("ulaw", 8000), 100, lambda pcm: None)
    connected = asyncio.Event()
    connected.set()
    loop = asyncio.get_running_loop()
    sent: list[tuple[float, bytes]] = []

    async def send(chunk: bytes) -> None:
        sent.append((loop.time(), chunk))

    sender = asyncio.create_task(uplink.run(send, connected))
    uplink.keep_fed(connected)
    try:
        for _ in range(10):
            uplink.push(ulaw_frame(8000))
            await asyncio.sleep(0.02)
        last_packet = loop.time()
        spoken = len(sent)
        await asyncio.sleep(1.0)
    finally:
        uplink.stop_feeding()
        sender.cancel()

    silence = [(t, m) for t, m in sent[spoken:] if int(np.abs(np.frombuffer(m, dtype="<i2")).max()) < 50]
    assert silence, "no comfort silence was sent"
    assert silence[0][0] - last_packet < 0.12, silence[0][0] - last_packet
    window = [len(m) for t, m in silence if t - last_packet < 0.25]
    later = [len(m) for t, m in silence if t - last_packet > 0.45]
    assert window and set(window) == {320}, window
    assert later and set(later) == {1600}, later
