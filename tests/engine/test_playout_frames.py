"""How the pacer cuts agent audio into frames on a line whose frames are 40 ms (Twilio's TWILIO_FRAME_MS).

A reply that arrives in a burst goes out in full 40 ms frames, one per 40 ms (half the messages of
20 ms frames). A reply that trickles in at real time is not held back to fill a 40 ms frame: the
first words go out as soon as 20 ms of them are there.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engine.playout import Playout
from engine.port import WireFormat

pytestmark = pytest.mark.asyncio


class Line:
    """A carrier socket that notes when each payload was sent and its size."""

    supports_marks = False

    def __init__(self, frame_ms: int, lead_ms: int = 0) -> None:
        self.wire = WireFormat("ulaw", 8000, frame_ms=frame_ms, lead_ms=lead_ms)
        self.sent: list[tuple[float, int]] = []

    async def send_audio(self, payload: bytes) -> None:
        self.sent.append((asyncio.get_running_loop().time(), len(payload)))

    async def clear(self) -> None:
        pass


def tone_24k(ms: int) -> bytes:
    n = 24 * ms
    return (8000 * np.sin(np.arange(n) * 2 * np.pi * 300 / 24000)).astype("<i2").tobytes()


async def play_burst(line: Line, on_frame=None) -> None:
    """One second of agent audio at once, played out (`on_frame`: the recording's hook)."""
    playout = Playout(line, on_frame=on_frame)
    playout.start()
    try:
        playout.add_model_audio(tone_24k(1000))
        playout.end_of_generation()
        await asyncio.sleep(1.2)
    finally:
        await playout.stop()


async def test_a_burst_goes_out_in_40_ms_frames_at_real_time():
    """Thrown at it: one second of agent audio at once. Holds: 25 frames of 40 ms (320 u-law bytes),
    the last leaving about 960 ms after the first (real time, not a burst)."""
    line = Line(40)
    await play_burst(line)
    sizes = [size for _, size in line.sent]
    assert sum(sizes) == 8000, sizes
    assert sizes.count(320) >= 24 and all(size % 160 == 0 and size <= 320 for size in sizes), sizes
    span = line.sent[-1][0] - line.sent[0][0]
    assert 0.9 < span < 1.05, span


async def test_trickling_audio_is_not_held_back_to_fill_a_frame():
    """Thrown at it: agent audio arriving 30 ms at a time, every 30 ms (a model streaming at real time).
    Holds: the first frame leaves as soon as the first piece is there (not when 40 ms have gathered,
    30 ms later); every frame is whole 20 ms units, at most 40 ms; nothing is lost or padded mid-reply."""
    line = Line(40)
    playout = Playout(line)
    playout.start()
    loop = asyncio.get_running_loop()
    try:
        first = loop.time()
        for i in range(20):
            playout.add_model_audio(tone_24k(30))
            await asyncio.sleep(max(0.0, first + (i + 1) * 0.03 - loop.time()))
        playout.end_of_generation()
        await asyncio.sleep(0.3)
    finally:
        await playout.stop()
    assert line.sent, "nothing was sent"
    assert line.sent[0][0] - first < 0.015, line.sent[0][0] - first
    sizes = [size for _, size in line.sent]
    assert all(size % 160 == 0 and size <= 320 for size in sizes), sizes
    assert sum(sizes) in (4800, 4960), sum(sizes)  # 600 ms, the last frame of the turn padded to 20 ms


async def test_a_20_ms_line_still_gets_20_ms_frames():
    """Thrown at it: the same burst on an RTP-like line (20 ms frames). Holds: 50 frames of 160 bytes."""
    line = Line(20)
    await play_burst(line)
    assert [size for _, size in line.sent] == [160] * 50


async def test_a_line_that_buffers_gets_a_replys_start_at_once_and_the_rest_at_real_time():
    """Thrown at it: one second of agent audio at once, on a Twilio-like line that may be sent 60 ms
    ahead (TWILIO_LEAD_MS). Holds: the first 80 ms leave at once (the caller's first words are not held
    to the frame clock), the rest at real time, 60 ms ahead (the last frame about 900 ms after the
    first, not a burst); the recording is told when each frame plays, not when it was sent."""
    line = Line(40, lead_ms=60)
    heard: list[float] = []
    await play_burst(line, on_frame=lambda pcm, at: heard.append(at))
    sent = [t for t, _ in line.sent]
    assert sum(size for _, size in line.sent) == 8000
    assert sent[1] - sent[0] < 0.01, sent[:3]  # two 40 ms frames at once
    assert sent[2] - sent[0] > 0.015, sent[:3]  # then the clock
    assert 0.85 < sent[-1] - sent[0] < 0.99, sent[-1] - sent[0]
    assert 0.93 < heard[-1] - heard[0] < 1.05, heard[-1] - heard[0]  # played over the full second
