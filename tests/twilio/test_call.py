"""Inbound Twilio calls end to end: the Twilio emulator -> real daphne -> engine -> Gemini emulator.

The emulator behaves as Twilio does (signed webhook, `<Connect><Stream>`, real-time 20 ms media, a
playout queue with marks); the caller speaks flite speech and pocketsphinx listens to what the
caller heard.
"""

from __future__ import annotations

import asyncio

import pytest

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

from .conftest import TWILIO_NUMBER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.mark.production
async def test_inbound_call_greeting_two_turns_barge_in_dtmf_and_caller_hangup(
    twilio_server, twilio_emulator, twilio_agent
):
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    assert call.webhook_status == 200, call.errors  # the signed webhook was accepted
    assert call.stream_started.is_set(), call.errors

    greeting = await heard(emu, call)
    assert {"calling", "help"} & set(greeting.split()), greeting

    await emu.run(call.say("hello"))
    assert await heard_agent_line(emu, call) == HELLO_REPLY  # the words, and the signal undistorted

    await emu.run(call.say("i would like to check the status of my order"))
    reply = await heard(emu, call)
    assert {"order", "shipped", "tomorrow", "check"} & set(reply.split()), reply

    # Barge-in: interrupt a long story; the app must send `clear` and the story must stop.
    await emu.run(call.say("can you tell me a long story"))
    story_start = await emu.run(call.handset.next_speech_start())
    await asyncio.sleep(1.5)
    await emu.run(call.say("hello"))
    await emu.run(call.wait_until(lambda: "clear" in call.app_events, what="clear after barge-in"))
    cleared_at = call.handset.heard_seconds
    await heard(emu, call)  # the answer to the interruption
    assert call.playout.stats.clears >= 1
    story_played = cleared_at - story_start
    assert story_played < 10, f"the story kept playing for {story_played:.1f} s after the barge-in"

    await emu.run(call.send_dtmf("5"))
    await asyncio.sleep(0.5)
    await emu.run(call.hangup())

    assert call.errors == [], call.errors  # the app never broke the Media Streams protocol
    assert call.marks_returned, "the app never asked for a mark"
    assert ("completed", 204) in call.callbacks  # signed status callback accepted
    row = await stored(call.sid)
    assert row.status == "completed" and row.end_reason == "caller hung up"
    said = await segments(row)
    speakers = [s for s, _ in said]
    assert speakers.count("caller") >= 2 and speakers.count("agent") >= 3, said
    assert ("system", "Caller pressed 5") in said
    assert await recording_seconds(row) > 5
    assert row.metrics.turns >= 2 and row.metrics.barge_ins >= 1 and row.metrics.frames_out > 100


async def test_agent_hangs_up_through_the_rest_api_after_goodbye(
    twilio_server, twilio_emulator, twilio_agent
):
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    await heard(emu, call)
    await emu.run(call.say("thank you goodbye"))
    goodbye = await heard(emu, call)
    assert {"goodbye", "bye", "thank", "calling"} & set(goodbye.split()), goodbye
    await emu.run(call.ended.wait())

    hangups = [r for r in emu.emulator.rest_requests if r[1].endswith(f"/Calls/{call.sid}.json")]
    assert hangups and hangups[0][2].get("Status") == ["completed"], emu.emulator.rest_requests
    assert call.end_reason == "ended by REST API"
    assert call.callbacks[-1] == ("completed", 204)
    row = await stored(call.sid)
    assert row.status == "completed"
    assert any(s == "caller" and "goodbye" in t.lower() for s, t in await segments(row))


async def test_caller_with_silence_suppression_is_answered(twilio_server, twilio_emulator, twilio_agent):
    """Thrown at it: a caller whose phone sends no media message while silent (silence suppression,
    DTX): nothing during the greeting, the question as 20 ms frames, then not one message, so only
    flite's ~160 ms tail follows the last word (the agent waits for 300 ms of silence). Survives: the
    caller hears the agent answer the question, and the stored transcript has the question and the
    reply."""
    await silent_caller_is_answered(twilio_emulator, TWILIO_NUMBER)


async def test_the_ai_disclosure_is_spoken_first_and_not_cut_by_the_caller(
    twilio_server, twilio_emulator, twilio_agent
):
    await disclosure_is_not_cut(twilio_emulator, TWILIO_NUMBER, twilio_agent, "clear")


def _audio_mime_types(session) -> set[str]:
    """The MIME types of the caller audio a Gemini session received (either JSON spelling)."""
    found = set()
    for message in session.messages:
        body = message.get("realtime_input") or message.get("realtimeInput") or {}
        audio = body.get("audio") if isinstance(body, dict) else None
        if isinstance(audio, dict):
            found.add(audio.get("mime_type") or audio.get("mimeType"))
    return found


async def test_caller_audio_reaches_gemini_at_the_phone_lines_own_rate(
    twilio_server, twilio_emulator, twilio_agent, gemini_emulator
):
    """Thrown at it: a phone line's 8 kHz u-law. Survives: Gemini receives it as 8 kHz PCM declared
    `audio/pcm;rate=8000` (the API resamples; no bridge-side resampler holds back the end of every
    utterance, which each reply would wait for), and the agent still understands the caller."""
    emu = twilio_emulator
    before = len(gemini_emulator.sessions)
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    await heard(emu, call)  # the greeting
    await emu.run(call.say("hello"))
    assert await heard_agent_line(emu, call) == HELLO_REPLY
    await emu.run(call.hangup())
    sessions = gemini_emulator.sessions[before:]
    assert sessions, "the call opened no Gemini session"
    assert _audio_mime_types(sessions[0]) == {"audio/pcm;rate=8000"}
