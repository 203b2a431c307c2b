"""Inbound Plivo calls end to end: the Plivo emulator -> real daphne -> engine -> Gemini emulator.

The emulator behaves as Plivo does (V3-signed answer callback, bidirectional u-law `<Stream>`,
real-time media, playAudio limited to 160 bytes, checkpoints acknowledged only when played, no
`stop`: hangups close the socket).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets

from tests.support.carrier import (
    disclosure_is_not_cut,
    heard,
    heard_agent_line,
    recording_seconds,
    segments,
    silent_caller_is_answered,
    stored,
)
from tests.support.hearing import HELLO_REPLY

from .conftest import PLIVO_NUMBER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.mark.production
async def test_inbound_call_greeting_two_turns_barge_in_dtmf_and_caller_hangup(
    plivo_server, plivo_emulator, plivo_agent
):
    emu = plivo_emulator
    call = await emu.place(to=PLIVO_NUMBER)
    await emu.run(call.answered())
    assert call.webhook_status == 200, call.errors  # V3 signature accepted
    assert call.stream_started.is_set(), call.errors

    greeting = await heard(emu, call)
    assert {"calling", "help"} & set(greeting.split()), greeting
    await emu.run(call.say("hello"))
    assert await heard_agent_line(emu, call) == HELLO_REPLY  # the words, and the signal undistorted
    await emu.run(call.say("i would like to check the status of my order"))
    reply = await heard(emu, call)
    assert {"order", "shipped", "tomorrow", "check"} & set(reply.split()), reply
    acknowledged = len(call.checkpoints_played)
    assert acknowledged >= 2, "checkpoints after each turn come back as playedStream"

    await emu.run(call.say("can you tell me a long story"))
    story_start = await emu.run(call.handset.next_speech_start())
    await asyncio.sleep(1.5)
    await emu.run(call.say("hello"))
    await emu.run(call.wait_until(lambda: "clearAudio" in call.app_events, what="clearAudio after barge-in"))
    cleared_at = call.handset.heard_seconds
    await heard(emu, call)
    assert call.playout.stats.clears >= 1
    assert cleared_at - story_start < 10, "the story kept playing after the barge-in"

    await emu.run(call.send_dtmf("7"))
    await asyncio.sleep(0.5)
    await emu.run(call.hangup())

    assert call.errors == [], call.errors  # every playAudio was u-law, <= 160 bytes, well formed
    assert call.playout.stats.rejected == 0
    assert ("Hangup", 204) in call.callbacks
    row = await stored(call.uuid)
    assert row.status == "completed" and row.end_reason == "caller hung up"
    said = await segments(row)
    assert [s for s, _ in said].count("caller") >= 2 and [s for s, _ in said].count("agent") >= 3, said
    assert ("system", "Caller pressed 7") in said
    assert await recording_seconds(row) > 5
    assert row.metrics.turns >= 2 and row.metrics.barge_ins >= 1


async def test_a_replys_start_reaches_plivo_at_once_and_the_rest_at_real_time(
    plivo_server, plivo_emulator, plivo_agent
):
    """Thrown at it: the greeting, which Gemini sends faster than real time. Holds: its first 80 ms (one
    20 ms frame and PLIVO_LEAD_MS, 60) reach Plivo together, so the caller's first words are not held to
    the frame clock, and the rest comes at real time, not as a burst (Plivo buffers what it is sent and
    drops it all on `clearAudio`, so the lead costs nothing at a barge-in)."""
    emu = plivo_emulator
    call = await emu.place(to=PLIVO_NUMBER)
    arrivals: list[tuple[float, int]] = []  # (arrival, bytes) of each playAudio
    add_audio = call.playout.add_audio

    def timed(ulaw: bytes, now: float) -> None:
        arrivals.append((time.monotonic(), len(ulaw)))
        add_audio(ulaw, now)

    call.playout.add_audio = timed
    await emu.run(call.answered())
    await heard(emu, call)
    await emu.run(call.hangup())
    assert len(arrivals) > 50, arrivals[:5]
    t0 = arrivals[0][0]
    assert [size for _, size in arrivals[:4]] == [160] * 4
    assert arrivals[3][0] - t0 < 0.03, [round(t - t0, 3) for t, _ in arrivals[:6]]  # 80 ms at once
    audio_s = sum(size for _, size in arrivals) / 8000
    assert arrivals[-1][0] - t0 > audio_s - 0.3, (arrivals[-1][0] - t0, audio_s)  # then real time


async def test_agent_hangs_up_through_the_rest_api_after_goodbye(plivo_server, plivo_emulator, plivo_agent):
    emu = plivo_emulator
    call = await emu.place(to=PLIVO_NUMBER)
    await emu.run(call.answered())
    await heard(emu, call)
    await emu.run(call.say("thank you goodbye"))
    goodbye = await heard(emu, call)
    assert {"goodbye", "bye", "thank", "calling"} & set(goodbye.split()), goodbye
    await emu.run(call.ended.wait())
    deletes = [r for r in emu.emulator.rest_requests if r[0] == "DELETE" and call.uuid in r[1]]
    assert deletes, emu.emulator.rest_requests
    assert call.hangup_source == "API Request"
    row = await stored(call.uuid)
    assert row.status == "completed"


async def test_missing_or_reused_token_closes_the_socket_before_audio(
    plivo_server, plivo_emulator, plivo_agent
):
    """Thrown: a stream start with no token, then one reusing a live call's token. Survives: both
    sockets closed with 4403; the real call goes on."""
    emu = plivo_emulator
    call = await emu.place(to=PLIVO_NUMBER)
    await emu.run(call.answered())
    token = call.extra_headers.partition("=")[2]
    for headers in ("", f"token={token}", "token=nothex!"):
        async with websockets.connect(plivo_server.ws_url + "/ws/plivo/") as ws:
            start = {
                "event": "start",
                "sequenceNumber": 1,
                "start": {"callId": "x", "streamId": "y"},
                "extra_headers": headers,
            }
            await ws.send(json.dumps(start))
            try:
                for _ in range(20):
                    await ws.send(json.dumps({"event": "media", "media": {"payload": "/////w=="}}))
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 4403, headers
    await heard(emu, call)
    await emu.run(call.say("hello"))
    assert {"help", "today"} & set((await heard(emu, call)).split())
    await emu.run(call.hangup())


async def test_junk_frames_and_odd_payloads_are_tolerated(plivo_server, plivo_emulator, plivo_agent):
    """Thrown: not-JSON, binary, media without payload, bad base64, an unknown event, then caller
    audio in 77/243/1/319-byte payloads. Survives: the call; the caller is understood and answered."""
    emu = plivo_emulator
    call = await emu.place(to=PLIVO_NUMBER)
    call.payload_sizes = [77, 243, 161, 159, 1, 319]
    await emu.run(call.answered())
    for junk in (
        "{oops",
        b"\x00\x01",
        '{"event": "media"}',
        '{"event": "media", "media": {"payload": "@@"}}',
        '{"event": "x"}',
    ):
        await emu.run(call.send_raw(junk))
    await heard(emu, call)
    await emu.run(call.say("hello"))
    assert {"help", "today"} & set((await heard(emu, call)).split())
    await emu.run(call.hangup())
    assert "malformed frame ignored" in plivo_server.log()


async def test_socket_dropped_mid_call_ends_and_stores_the_call(plivo_server, plivo_emulator, plivo_agent):
    """Thrown: the stream socket vanishes mid-greeting (TCP abort). Survives: the call is ended
    and stored."""
    emu = plivo_emulator
    call = await emu.place(to=PLIVO_NUMBER)
    await emu.run(call.answered())
    await emu.run(call.wait_until(lambda: call.handset.first_speech_after(0) is not None, what="greeting"))
    await emu.run(call.drop())
    row = await stored(call.uuid)
    assert row.status == "completed"


async def test_gemini_dropping_mid_call_reconnects_and_the_call_goes_on(
    plivo_server, plivo_emulator, plivo_agent, gemini_emulator
):
    """Thrown: the Gemini connection is cut halfway through a reply. Survives: the engine
    reconnects; the next question is answered on the same call."""
    emu = plivo_emulator
    call = await emu.place(to=PLIVO_NUMBER)
    await emu.run(call.answered())
    await heard(emu, call)
    gemini_emulator.faults.drop_mid_turn = True
    try:
        await emu.run(call.say("i would like to check the status of my order"))
        await emu.run(call.handset.next_reply(quiet=1.5))
    finally:
        gemini_emulator.faults.drop_mid_turn = False
    await emu.run(call.say("hello"))
    assert {"help", "today"} & set((await heard(emu, call)).split())
    await emu.run(call.hangup())
    assert (await stored(call.uuid)).metrics.reconnects >= 1


async def test_caller_with_silence_suppression_is_answered(plivo_server, plivo_emulator, plivo_agent):
    """Thrown at it: a caller whose phone sends no media event while silent (silence suppression,
    DTX): nothing during the greeting, the question as 20 ms frames, then not one event, so only
    flite's ~160 ms tail follows the last word (the agent waits for 300 ms of silence). Survives: the
    caller hears the agent answer the question, and the stored transcript has the question and the
    reply."""
    await silent_caller_is_answered(plivo_emulator, PLIVO_NUMBER)


async def test_the_ai_disclosure_is_spoken_first_and_not_cut_by_the_caller(
    plivo_server, plivo_emulator, plivo_agent
):
    await disclosure_is_not_cut(plivo_emulator, PLIVO_NUMBER, plivo_agent, "clearAudio")
