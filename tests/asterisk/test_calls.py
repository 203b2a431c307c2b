"""Asterisk calls end to end: emulator phone -> ARI + media leg -> runasterisk -> engine -> Gemini emulator.

The phone speaks flite speech in real time into the emulator's mixing bridge; pocketsphinx listens
to what the phone heard. runasterisk is a real child process per default media transport.
"""

from __future__ import annotations

import time

import pytest

from agents.models import Extension
from calls.models import Call
from emulators.gemini.speech import flite_pcm, recognise
from tests.support.hearing import HELLO_REPLY, heard_line

from .conftest import FRAME, utterances

pytestmark = pytest.mark.django_db(transaction=True)

CONTEXT = "from-test"
_exten = [1000]


def bind_extension(agent, transport: str = "") -> str:
    _exten[0] += 1
    Extension.objects.create(
        context=CONTEXT, extension=str(_exten[0]), agent=agent, media_transport=transport
    )
    return str(_exten[0])


def next_reply(asterisk, chan, since: int, timeout: float = 25.0) -> tuple[int, int, str]:
    """Wait for the next utterance the phone hears after byte `since` to finish; recognise it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heard = asterisk.heard(chan)
        for start, end in utterances(heard[since:]):
            if len(heard) - since - end >= 45 * FRAME:  # 0.9 s of quiet after it
                pcm = heard[since + start : since + end]
                return since + start, since + end, recognise(pcm)
        time.sleep(0.1)
    raise AssertionError(
        f"no reply heard after {since / 32000:.1f} s (heard {len(asterisk.heard(chan)) / 32000:.1f} s)"
    )


def speech_started(asterisk, chan, since: int, timeout: float = 25.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heard = asterisk.heard(chan)
        runs = utterances(heard[since:])
        if runs:
            return since + runs[0][0]
        time.sleep(0.05)
    raise AssertionError("the agent did not start speaking")


EMULATOR_BASELINE: dict[str, set[str]] = {}  # set by tests/asterisk/conftest.py before each test


def stored(chan_id: str, timeout: float = 20.0) -> Call:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = (
            Call.objects.select_related("metrics")
            .filter(carrier_call_id=chan_id, metrics__final=True)
            .first()
        )
        if call:
            return call
        time.sleep(0.1)
    raise AssertionError(f"call {chan_id} was never stored")


def call_resources_gone(asterisk, chan) -> bool:
    """No channel or bridge of this call is left on the emulator (what an earlier test left behind,
    recorded by the `emulator_baseline` fixture, is that test's failure, not this one's)."""
    emu = asterisk.emulator
    old_legs, old_bridges = EMULATOR_BASELINE.get("legs", set()), EMULATOR_BASELINE.get("bridges", set())

    def check():
        legs = [c for c in emu.channels.values() if c.id.startswith("cc-leg-") and c.id not in old_legs]
        bridges = [b for b in emu.bridges if b not in old_bridges]
        return chan.id not in emu.channels and not legs and not bridges

    return asterisk.wait_for(check, what="call resources released")


def say(asterisk, chan, text: str) -> None:
    asterisk.say(chan, flite_pcm(text, 16000))


def test_unknown_extension_hears_the_apology_then_is_hung_up(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: a StasisStart for an extension bound to no agent. Survives: the caller hears the
    pre-rendered apology through ARI play, is hung up with cause 1, nothing is left behind, and the
    call is in the history as refused."""
    run = runasterisk("rtp")
    chan = asterisk.place_call(CONTEXT, "9999", app=run.app)
    asterisk.wait_for(lambda: chan.phone.ended.is_set(), 30, "hangup after the apology")
    text = recognise(asterisk.heard(chan))
    assert "sorry" in text and "available" in text, text
    assert chan.phone.end_cause == 1  # reason=unallocated
    plays = [r for r in asterisk.emulator.requests if r[1] == f"/channels/{chan.id}/play"]
    assert plays and plays[0][2] == 201
    assert call_resources_gone(asterisk, chan)
    call = Call.objects.get(carrier_call_id=chan.id)
    assert (call.carrier, call.status, call.to_number) == ("asterisk", "refused", "9999")
    assert call.end_reason == "no agent (unknown)"


TRANSPORTS = ["rtp", "rtp:alaw", "audiosocket:slin", "audiosocket", "websocket", "websocket:ulaw"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_call_greeting_two_turns_barge_in_dtmf_and_caller_hangup(
    asterisk, runasterisk, asterisk_agent, transport
):
    run = runasterisk(transport)
    exten = bind_extension(asterisk_agent)
    chan = asterisk.place_call(CONTEXT, exten, app=run.app)

    _, end, greeting = next_reply(asterisk, chan, 0)
    assert {"calling", "help"} & set(greeting.split()), greeting

    say(asterisk, chan, "hello")
    start, end, _ = next_reply(asterisk, chan, end)
    # The words, and the signal: a codec or framing bug that garbles the voice fails here.
    assert heard_line(asterisk.heard(chan)[start:end], 16000) == HELLO_REPLY

    say(asterisk, chan, "i would like to check the status of my order")
    _, end, reply = next_reply(asterisk, chan, end)
    assert {"order", "shipped", "tomorrow", "check"} & set(reply.split()), reply

    # Barge-in: interrupt a long story; it must stop soon after the caller talks over it.
    say(asterisk, chan, "can you tell me a long story")
    story = speech_started(asterisk, chan, end)
    asterisk.wait_for(lambda: len(chan.phone.heard) > story + 3 * 32000, what="3 s of story")
    say(asterisk, chan, "hello")
    asterisk.wait_for(lambda: not chan.phone.speaking, what="caller finished talking")
    interrupted_at = len(asterisk.heard(chan))
    _, end, _ = next_reply(asterisk, chan, interrupted_at)

    asterisk.send_dtmf(chan, "5")
    time.sleep(0.5)
    asterisk.hangup(chan)

    row = stored(chan.id)
    assert row.status == "completed" and row.end_reason == "caller hung up", row.end_reason
    said = list(row.segments.values_list("speaker", "text"))
    speakers = [s for s, _ in said]
    assert speakers.count("caller") >= 2 and speakers.count("agent") >= 3, said
    assert ("system", "Caller pressed 5") in said
    assert row.recording.duration_seconds > 5
    assert row.metrics.turns >= 2 and row.metrics.barge_ins >= 1
    assert call_resources_gone(asterisk, chan)
    check_leg(chan, transport)


def check_leg(chan, transport: str) -> None:
    """What the emulator saw the app send on the media leg: right payload type, kinds, frame sizes."""
    (leg,) = chan.phone.legs
    stats = leg.stats
    assert stats.frames_in > 250  # > 5 s of agent audio arrived on the leg
    assert stats.wrong_payload_type == stats.dynamic_pt_dropped == stats.wrong_frame_size == 0, stats
    assert stats.wrong_kind == stats.strict_rtp_dropped == stats.malformed == 0, stats
    if transport.startswith("websocket"):
        assert stats.short_messages_dropped == stats.queue_full_dropped == 0, stats
        assert "FLUSH_MEDIA" in stats.commands  # barge-in took back what Asterisk had queued
        assert stats.marks_processed >= 1  # 22.10 has marks: the engine used them


def test_agent_hangs_up_after_goodbye(asterisk, runasterisk, asterisk_agent):
    """The engine ends the call (end_call tool): runasterisk hangs the caller up over ARI."""
    run = runasterisk("audiosocket")
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app)
    _, end, _ = next_reply(asterisk, chan, 0)
    say(asterisk, chan, "thank you goodbye")
    asterisk.wait_for(lambda: chan.phone.ended.is_set(), 30, "the agent's hangup")
    assert chan.phone.end_cause == 16
    deletes = [r for r in asterisk.emulator.requests if r[0] == "DELETE" and r[1] == f"/channels/{chan.id}"]
    assert deletes and deletes[0][2] == 204
    row = stored(chan.id)
    assert row.status == "completed" and row.end_reason.startswith("agent ended the call"), row.end_reason
    assert call_resources_gone(asterisk, chan)


@pytest.mark.parametrize("transport", ["rtp", "audiosocket", "websocket"])
def test_phone_with_silence_suppression_is_answered(asterisk, runasterisk, asterisk_agent, transport):
    """Thrown at it: a phone that sends nothing while silent (DTX, silence suppression); the bridge
    then has no frame to relay, so the media leg carries no packet from the caller at all: none
    during the greeting, the question in 20 ms frames, then nothing, leaving only flite's ~160 ms
    tail after the last word (the agent waits for 300 ms of silence). Survives: the phone hears the
    agent answer the question, and the stored transcript has the question and the reply."""
    run = runasterisk(transport)
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app, silence_suppression=True)
    _, end, _ = next_reply(asterisk, chan, 0)

    def to_app() -> int:
        return asterisk.call(lambda: sum(leg.stats.frames_out for leg in chan.phone.legs))

    assert to_app() == 0  # the greeting played to a line that sent nothing

    say(asterisk, chan, "i would like to check the status of my order")
    start, end, reply = next_reply(asterisk, chan, end, timeout=15)
    # The phone heard a spoken answer; which answer is judged on the stored transcript below (on a
    # starved CPU the played reply can reach pocketsphinx with gaps it mishears).
    assert end - start >= FRAME * 40, f"only {(end - start) / FRAME * 20:.0f} ms of reply heard: {reply!r}"
    sent = to_app()
    assert 0 < sent < 200, sent  # the question's ~135 frames only
    asterisk.hangup(chan)

    row = stored(chan.id)
    said = list(row.segments.values_list("speaker", "text"))
    caller_said = " ".join(t for s, t in said if s == "caller").lower()
    assert "status of my order" in caller_said, said
    assert [s for s, _ in said].count("agent") >= 2, said  # the greeting and the answer
    agent_said = " ".join(t for s, t in said if s == "agent").lower()
    assert {"order", "shipped", "tomorrow", "check"} & set(agent_said.split()), (said, reply)


def test_the_ai_disclosure_is_spoken_first_and_not_cut_by_the_caller(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: an agent with the AI disclosure, the caller saying "hello" half a second into the
    opening (RTP). Holds: the opening (disclosure, then greeting) plays whole, the stored transcript
    starts with the disclosure and records it as given."""
    from agents.models import DEFAULT_AI_DISCLOSURE

    asterisk_agent.ai_disclosure = DEFAULT_AI_DISCLOSURE
    asterisk_agent.save()
    run = runasterisk("rtp")
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app)
    start = speech_started(asterisk, chan, 0)
    asterisk.wait_for(lambda: len(chan.phone.heard) > start + 16000, what="half a second of the opening")
    say(asterisk, chan, "hello")
    next_reply(asterisk, chan, start)  # the opening, to its end
    asterisk.hangup(chan)
    call = stored(chan.id)
    said = list(call.segments.values_list("speaker", "text"))
    agent_lines = [text for speaker, text in said if speaker == "agent"]
    assert agent_lines[0].startswith(DEFAULT_AI_DISCLOSURE.rstrip(".")), said
    assert asterisk_agent.greeting in agent_lines[0] or asterisk_agent.greeting in agent_lines[1], said
    assert ("system", f"AI disclosure given: {DEFAULT_AI_DISCLOSURE}") in said
