"""How caller audio is cut into messages to Gemini: 20 ms where turn detection is deciding, batched
elsewhere.

Gemini's turn detection decides a barge-in on caller speech it has received and the end of a turn on
silence it has received; a batch waiting to fill holds back both, so an utterance's start and the
silence after it go up frame by frame. Each message costs a WebSocket frame and a TLS write, so the
rest of an utterance goes up in 40 ms messages and quiet stretches (the caller listening to the
agent, most of a call) in GEMINI_INPUT_BATCH_MS batches.
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


def timed_sender(uplink: Uplink) -> tuple[list[tuple[float, bytes]], asyncio.Task, asyncio.Event]:
    """The uplink's sender, connected throughout, into a list of (loop time, message)."""
    connected = asyncio.Event()
    connected.set()
    loop = asyncio.get_running_loop()
    sent: list[tuple[float, bytes]] = []

    async def send(chunk: bytes) -> None:
        sent.append((loop.time(), chunk))

    return sent, asyncio.create_task(uplink.run(send, connected)), connected


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
    packet (it is topped up every FEED_TICK_MS, not once per 100 ms batch) and goes up as it is topped
    up, each tick's 40 ms in one message (not held for a batch); once the window after speech has passed (0.3 s here), in
    100 ms batches."""
    monkeypatch.setattr(uplink_module, "QUICK_AFTER_VOICE_S", 0.3)
    uplink = Uplink(WireFormat("ulaw", 8000), 100, lambda pcm: None)
    sent, sender, connected = timed_sender(uplink)
    loop = asyncio.get_running_loop()
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
    # Whole ticks of 40 ms (two when the test's loop was late for one), never held for a 100 ms batch.
    assert window and all(size % 640 == 0 and size < 1600 for size in window), window
    assert later and set(later) == {1600}, later


async def test_a_long_utterance_goes_up_in_40ms_messages_after_its_start():
    """Thrown at it: a phone line (100 ms quiet batches, an agent whose end-of-turn silence is 300 ms)
    sends 140 ms of quiet, then 0.6 s of speech, then quiet. Holds: the first spoken frame goes up at
    once with the quiet pending before it, in one message (a barge-in waits for no batch); the utterance's first 0.3 s
    go up frame by frame, the rest in 40 ms messages; the first quiet frame flushes what was pending,
    the quiet after goes frame by frame for 0.3 + 0.5 s, then in 100 ms batches. Nothing is lost or
    reordered."""
    uplink = Uplink(WireFormat("ulaw", 8000), 100, lambda pcm: None)
    uplink.end_of_turn_silence(300)
    sent, sender, _ = timed_sender(uplink)
    loop = asyncio.get_running_loop()
    pushed = bytearray()

    async def push(amplitude: int) -> None:
        """One frame, then a few loop turns for the sender (one message per turn), no waiting."""
        frame = ulaw_frame(amplitude)
        pushed.extend(frame)
        uplink.push(frame)
        for _ in range(6):
            await asyncio.sleep(0)

    def unsent() -> int:
        """Decoded bytes pushed but not yet sent."""
        return len(pushed) * 2 - sum(len(m) for _, m in sent)

    try:
        for _ in range(7):
            await push(100)
            await asyncio.sleep(0.02)
        assert [len(m) for _, m in sent] == [1600]  # one 100 ms quiet batch; 40 ms pending
        await push(8000)
        spoke_at = loop.time()
        assert unsent() == 0, "the first spoken frame waited for a batch"
        assert [len(m) for _, m in sent[1:]] == [960]  # the 40 ms pending and the frame, in one message
        await asyncio.sleep(0.02)
        while loop.time() - spoke_at < 0.6:
            await push(8000)
            await asyncio.sleep(0.02)
        speech = [(t - spoke_at, len(m)) for t, m in sent[2:]]
        assert all(size == 320 for t, size in speech if t < 0.28), speech
        late = [size for t, size in speech if t > 0.32]
        assert late and set(late) == {640}, speech
        done_speaking = len(sent)
        await push(100)
        quiet_at = loop.time()
        assert unsent() == 0, "the first quiet frame did not flush the speech pending before it"
        await asyncio.sleep(0.02)
        while loop.time() - quiet_at < 1.2:
            await push(100)
            await asyncio.sleep(0.02)
    finally:
        sender.cancel()

    after = [(t - quiet_at, len(m)) for t, m in sent[done_speaking + 1 :]]
    assert all(size == 320 for t, size in after if t < 0.78), after
    assert {size for t, size in after if t > 0.85} == {1600}, after
    decoded = DECODERS["ulaw"](bytes(pushed))
    assert b"".join(m for _, m in sent) == decoded[: sum(len(m) for _, m in sent)]


async def test_batches_sent_at_once_and_queued_keep_their_order():
    """Thrown at it: 60 frames of speech and quiet, with a `send_now` that sends each message where it is
    made but declines every third (as it does while the connection is closing or its writes are
    paused), and a sender whose sends take a while. Holds: declined messages go through the sender, no
    message jumps ahead of one queued before it, and the bytes Gemini gets are the bytes pushed, in
    order, each once."""
    uplink = Uplink(WireFormat("ulaw", 8000), 40, lambda pcm: None)
    connected = asyncio.Event()
    connected.set()
    got: list[tuple[str, bytes]] = []
    offered = 0

    def send_now(chunk: bytes) -> bool:
        nonlocal offered
        offered += 1
        if offered % 3 == 0:
            return False
        got.append(("now", chunk))
        return True

    async def send(chunk: bytes) -> None:
        await asyncio.sleep(0.005)
        got.append(("task", chunk))

    sender = asyncio.create_task(uplink.run(send, connected, send_now))
    await asyncio.sleep(0)
    pushed = bytearray()
    try:
        for i in range(60):
            frame = ulaw_frame(8000 if 10 <= i < 35 else 100)
            pushed.extend(frame)
            uplink.push(frame)
            await asyncio.sleep(0.004)
        await asyncio.sleep(0.2)
    finally:
        sender.cancel()
    assert {how for how, _ in got} == {"now", "task"}
    sent = b"".join(chunk for _, chunk in got)
    decoded = DECODERS["ulaw"](bytes(pushed))
    assert sent == decoded[: len(sent)] and len(decoded) - len(sent) < 640
