"""A caller whose line sends nothing while they are silent (DTX, silence suppression) is still answered.

Gemini's turn detection measures the audio it receives, not wall-clock time (reference §5), so an
utterance followed by no packets at all never ends the turn unless the engine feeds comfort silence.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from calls.models import Call
from engine.codec import pcm_to_ulaw
from engine.port import WireFormat
from engine.uplink import FeedClock, Uplink

from .test_engine import segments, stored

pytestmark = pytest.mark.asyncio


async def quietly_wait_for_audio(line, seconds: float, timeout: float = 15.0) -> None:
    """Wait (pushing nothing, as a silence-suppressing phone would) until the agent played `seconds` more."""
    target = line.port.seconds() + seconds
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while line.port.seconds() < target:
        if loop.time() > deadline:
            raise AssertionError(f"the agent did not speak within {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def quietly_wait_quiet(line, quiet: float = 0.6, timeout: float = 20.0) -> None:
    """Wait (pushing nothing) until the agent has sent no frame for `quiet` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        if line.port.frame_times and loop.time() - line.port.frame_times[-1] > quiet:
            return
    raise AssertionError("the agent never stopped talking")


@pytest.mark.django_db(transaction=True)
async def test_question_followed_by_no_packets_is_answered(demo_agent, dial):
    """Thrown at it: a caller who sends audio only while speaking: the greeting plays to a line that
    sends nothing, then one question (flite's own ~160 ms tail, shorter than the agent's 300 ms
    end-of-turn silence) and then not a single packet. Survives: the agent answers within seconds,
    and the transcript holds the question and an agent reply."""
    line = await dial()
    await quietly_wait_for_audio(line, 1.0)
    await quietly_wait_quiet(line)
    await line.caller.say("i would like to check the status of my order", then_silence=0.0)
    frames_after_question = line.handle.uplink.frames_in
    await quietly_wait_for_audio(line, 1.0, timeout=10.0)
    await quietly_wait_quiet(line)
    assert line.handle.uplink.frames_in == frames_after_question  # the caller really sent nothing
    await line.hang_up_and_wait()

    call: Call = await stored(line.handle.call_id)
    said = await sync_to_async(segments)(call.pk)
    caller_text = " ".join(t for s, t in said if s == "caller").lower()
    assert "status of my order" in caller_text, said
    assert sum(1 for s, _ in said if s == "agent") >= 2, said  # the greeting and the answer


async def _stream(uplink: Uplink, chunk: bytes, every: float, seconds: float) -> None:
    """Push `chunk` every `every` seconds on absolute deadlines, as a carrier would."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(round(seconds / every)):
        uplink.push(chunk)
        await asyncio.sleep(max(0.0, start + (n + 1) * every - loop.time()))


async def test_uplink_feeds_comfort_silence_only_while_the_line_sends_nothing():
    """Thrown at it: 20 ms frames, then 100 ms chunks (a coarse sender, not a silent line), then 1 s
    of nothing, then frames again, a Gemini reconnect and the end of the call. Survives: no comfort
    silence while audio flows in either size; about 25 zero batches (real time, not a burst) during
    the quiet second; none while Gemini is away or after `stop_feeding`."""
    uplink = Uplink(WireFormat("ulaw", 8000), 40, lambda pcm: None)
    connected = asyncio.Event()
    connected.set()
    tone = (3000 * np.sin(np.arange(160) * 2 * np.pi * 440 / 8000)).astype("<i2").tobytes()
    frame = pcm_to_ulaw(tone)
    uplink.keep_fed(connected)
    try:
        await _stream(uplink, frame, 0.02, 0.6)
        await _stream(uplink, frame * 5, 0.1, 0.6)
        assert uplink.silence_batches == 0

        queued = len(uplink._queue)
        await asyncio.sleep(1.0)
        quiet = uplink.silence_batches
        assert 20 <= quiet <= 26, quiet
        fed = list(uplink._queue)[queued + 2 :]  # the first two end the tone (partial batch, filter delay)
        peaks = [int(np.abs(np.frombuffer(b, dtype="<i2")).max()) for b in fed]
        assert len(fed) >= 18 and max(peaks) < 50, peaks  # silence (the resampler rings out at ±1)

        await _stream(uplink, frame, 0.02, 0.4)
        assert uplink.silence_batches - quiet <= 2  # at most the tick that saw the audio resume

        connected.clear()
        before = uplink.silence_batches
        await asyncio.sleep(0.3)
        assert uplink.silence_batches == before
        connected.set()
        await asyncio.sleep(0.3)
        assert uplink.silence_batches > before  # fed again once Gemini is back, with no backlog burst
        assert uplink.silence_batches - before <= 12  # ~8 in 0.3 s; a backlog burst would add ~8 more
    finally:
        uplink.stop_feeding()
    stopped = uplink.silence_batches
    await asyncio.sleep(0.2)
    assert uplink.silence_batches == stopped


async def test_every_calls_comfort_silence_tick_falls_on_one_grid():
    """Thrown at it: 30 uplinks started 7 ms apart (calls answered at scattered instants), each feeding
    comfort silence for half a second on one event loop. Holds: one timer serves them all (about 12
    timers in 0.5 s, not 30 times as many), each call is checked at every tick, each still feeds its
    silence in real time, and once the last call stops no timer is left."""
    loop = asyncio.get_running_loop()
    connected = asyncio.Event()
    connected.set()
    instants: list[set[float]] = []
    uplinks = []
    armed: list[float] = []
    call_at = loop.call_at

    def counting_call_at(when, callback, *args, **kwargs):  # noqa: ANN001, ANN202 - the loop's own
        armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    loop.call_at = counting_call_at
    try:
        for _ in range(30):
            uplink = Uplink(WireFormat("ulaw", 8000), 40, lambda pcm: None)
            ticks: set[float] = set()
            instants.append(ticks)
            original = uplink._tick

            def tick(loop, original=original, ticks=ticks):  # noqa: ANN001 - FeedClock's call
                ticks.add(loop.time())  # when this call was checked
                original(loop)

            uplink._tick = tick
            uplink.keep_fed(connected)
            uplinks.append(uplink)
            await asyncio.sleep(0.007)
        started = loop.time()
        armed.clear()
        try:
            await asyncio.sleep(0.5)
        finally:
            for uplink in uplinks:
                uplink.stop_feeding()
    finally:
        del loop.call_at
    late = [{t for t in ticks if t > started} for ticks in instants]
    assert 0 < len(armed) <= 14, len(armed)  # one timer for all 30 calls: about 12 in 0.5 s, not 360
    assert all(len(t) >= len(armed) - 1 for t in late), [len(t) for t in late]  # every call at every tick
    assert all(u.silence_batches >= 10 for u in uplinks)
    assert not FeedClock._clocks, "a clock outlived its last call"
