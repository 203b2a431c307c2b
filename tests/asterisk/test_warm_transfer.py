"""Warm transfer on Asterisk end to end: the emulator's phone -> ARI + RTP leg -> runasterisk -> engine ->
Gemini emulator, whose scripted model calls `warm_transfer`; runasterisk originates the person's channel.

The emulator models the person by their endpoint (PJSIP/201 presses 1 after the brief, 202 presses 2, 203
never answers, 204 is busy). The brief reaches them as Asterisk plays media: `sound:http://...` fetched
from runasterisk (a WAV of flite speech) and played on their channel; their phone records what it heard.
The hand-off is the caller and the person in one mixing bridge, the engine's media leg gone, and the two
phones hearing each other.
"""

from __future__ import annotations

import pytest

from calls.models import ToolInvocation
from emulators.gemini.speech import flite_pcm, recognise
from tests.support.warm_transfer import ASK, CALLER, add_sales, after_tool_line

from .conftest import utterances
from .test_calls import CONTEXT, bind_extension, call_resources_gone, next_reply, say, speech_started, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("transfer_rule")]


def _ask_for_sales(asterisk, runasterisk, agent, endpoint: str):
    """A caller asks for a person; returns (caller channel, person channel, bytes heard before asking)."""
    run = runasterisk("rtp")
    add_sales(agent, endpoint)
    chan = asterisk.place_call(CONTEXT, bind_extension(agent), caller_number=CALLER, app=run.app)
    _, end, _ = next_reply(asterisk, chan, 0)  # the greeting
    emu = asterisk.emulator
    earlier = asterisk.call(lambda: len(emu.originated))  # the session's emulator keeps earlier dials
    say(asterisk, chan, ASK)

    def person():
        ids = [o.get("channelId") for o in emu.originated[earlier:] if o.get("endpoint") == endpoint]
        found = [c for c in [*emu.channels.values(), *emu.finished_calls] if c.id in ids]
        return found[0] if found else None

    found = asterisk.wait_for(person, 25, f"a channel originated to {endpoint}")
    return chan, found, end


def _agent_back(asterisk, chan, person, outcome: str) -> None:
    """After the person's channel is gone: the model got `outcome`, the agent spoke to the caller again,
    and the caller ends the call normally (the agent's goodbye)."""
    asterisk.wait_for(lambda: person.hungup, 20, "the person's channel to end")
    since = len(asterisk.heard(chan))
    next_reply(asterisk, chan, since)  # the agent, back with the outcome
    say(asterisk, chan, "thank you goodbye")
    asterisk.wait_for(lambda: chan.phone.ended.is_set(), 30, "the agent's goodbye and hangup")
    row = stored(chan.id)
    assert row.handoff_to == "Sales" and row.handoff_outcome == outcome, (row.handoff_outcome, row.end_reason)
    assert row.end_reason.startswith("agent ended the call"), row.end_reason
    invocation = ToolInvocation.objects.get(call=row, tool_name="warm_transfer")
    assert invocation.result["ok"] is False and invocation.result["outcome"] == outcome
    said = list(row.segments.values_list("speaker", "text"))
    assert ("agent", after_tool_line(outcome)) in said, said
    assert person.bridge is None and person.keys_pressed != ["1"]
    assert call_resources_gone(asterisk, chan)


def test_accepted_bridges_caller_and_person_and_the_agent_leaves(asterisk, runasterisk, asterisk_agent):
    """The person (PJSIP/201) hears the brief, presses 1, and is put in the caller's bridge; the engine's
    media leg leaves it. The record shows the hand-off while caller and person still talk (each hears the
    other); the person's hangup ends the caller's channel and the bridge."""
    chan, person, asked = _ask_for_sales(asterisk, runasterisk, asterisk_agent, "PJSIP/201")
    emu = asterisk.emulator

    def bridged():
        bridge = chan.bridge
        return bridge is not None and person.bridge is bridge and all(c.leg is None for c in bridge.channels)

    asterisk.wait_for(bridged, 40, "caller and person alone in one bridge")
    assert person.keys_pressed == ["1"]
    (media,) = person.media_heard
    assert media.startswith("sound:http://") and media.endswith(".wav"), media
    assert (media[len("sound:") :], 200) in emu.media_fetches
    brief = asterisk.call(lambda: bytes(person.phone.heard))
    runs = utterances(brief)
    assert runs and (runs[-1][1] - runs[0][0]) / 32000 > 5, "the person heard no brief"
    words = set(recognise(brief[runs[0][0] : runs[-1][1]]).split())
    assert {"call", "billing", "question", "press", "take"} & words, words
    assert speech_started(asterisk, chan, asked) < len(asterisk.heard(chan)), "no hold audio"

    row = stored(chan.id)
    assert row.status == "completed" and row.end_reason == "handed off to Sales", row.end_reason
    assert row.handoff_to == "Sales" and row.handoff_outcome == "accepted"
    assert 0.5 < row.handoff_seconds < 40
    assert not chan.phone.ended.is_set(), "the caller was hung up instead of handed over"
    assert not any(c.id.startswith("cc-leg-") and c.bridge is chan.bridge for c in emu.channels.values())

    # The pair hears each other through the bridge: the person speaks, the caller hears it.
    since = len(asterisk.heard(chan))
    asterisk.say(person, flite_pcm("hello this is sales", 16000))
    start, _, words = next_reply(asterisk, chan, since, timeout=10)
    assert start - since < 2 * 32000, "the person's words reached the caller late"
    assert {"hello", "sales"} & set(words.split()), words

    bridge_id = chan.bridge.id
    asterisk.hangup(person)  # the person hangs up first: runasterisk hangs up the caller, ends the bridge
    asterisk.wait_for(lambda: chan.phone.ended.is_set(), 15, "the caller's channel to be hung up")
    asterisk.wait_for(lambda: bridge_id not in emu.bridges, 15, "the bridge to be destroyed")
    assert chan.phone.end_cause == 16
    assert call_resources_gone(asterisk, chan)


def test_declined_brings_the_agent_back(asterisk, runasterisk, asterisk_agent):
    """The person (PJSIP/202) hears the brief and presses 2: hung up; the agent tells the caller."""
    chan, person, _ = _ask_for_sales(asterisk, runasterisk, asterisk_agent, "PJSIP/202")
    _agent_back(asterisk, chan, person, "declined")
    assert person.keys_pressed == ["2"] and len(person.media_heard) == 1


def test_no_answer_brings_the_agent_back(asterisk, runasterisk, asterisk_agent):
    """The person (PJSIP/203) never answers: the originate ends with cause 19; the agent is back."""
    chan, person, _ = _ask_for_sales(asterisk, runasterisk, asterisk_agent, "PJSIP/203")
    _agent_back(asterisk, chan, person, "no-answer")
    assert person.phone.end_cause == 19 and person.media_heard == []


def test_busy_brings_the_agent_back(asterisk, runasterisk, asterisk_agent):
    """The person (PJSIP/204) is busy: cause 17; the agent is back with the caller."""
    chan, person, _ = _ask_for_sales(asterisk, runasterisk, asterisk_agent, "PJSIP/204")
    _agent_back(asterisk, chan, person, "busy")
    assert person.phone.end_cause == 17 and person.media_heard == []


def test_caller_hanging_up_on_hold_hangs_up_the_person(asterisk, runasterisk, asterisk_agent):
    """Thrown: the caller hangs up while the person (PJSIP/201) is still hearing the brief. Survives: the
    person's channel is hung up by runasterisk (not bridged to nobody), nothing of the call is left on
    the PBX, and the record says the transfer was abandoned."""
    chan, person, _ = _ask_for_sales(asterisk, runasterisk, asterisk_agent, "PJSIP/201")
    asterisk.wait_for(lambda: person.media_heard and person.playback, 20, "the brief to start playing")
    asterisk.hangup(chan)
    asterisk.wait_for(lambda: person.hungup, 15, "the person's channel to be hung up")
    assert person.keys_pressed == [] and person.bridge is None
    row = stored(chan.id)
    assert row.end_reason == "caller hung up" and row.handoff_outcome == "abandoned", row.end_reason
    assert call_resources_gone(asterisk, chan)
