"""Warm transfer on Plivo end to end: the Plivo emulator's caller -> daphne -> engine -> Gemini emulator, whose
scripted model calls `warm_transfer`; our port dials the person through the emulator's REST API.

The emulator models the person by their number (…01 presses 1 after the brief, …02 presses 2, …03 never
answers, …04 is busy), speaks our answer XML to them (the brief is what they hear), posts the key to our
signed digits webhook, and keeps `<Conference>` rooms with their members: the hand-off is the caller and
the person in one room.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from calls.models import ToolInvocation
from tests.support.carrier import heard, segments, stored
from tests.support.warm_transfer import ASK, CALLER, REASON, add_sales, after_tool_line

from .conftest import PLIVO_NUMBER

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("transfer_rule"),
]


async def _ask_for_sales(emu, agent, destination: str):
    """A caller to the agent's number asks for a person; returns (caller's call, the person's call)."""
    await sync_to_async(add_sales)(agent, destination)
    call = await emu.place(to=PLIVO_NUMBER, from_=CALLER)
    await emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    await heard(emu, call)  # the greeting
    asked_at = call.handset.heard_seconds
    earlier = set(emu.emulator.calls)  # the session's emulator keeps earlier tests' calls
    await emu.run(call.say(ASK))

    def person():
        return next(
            (c for u, c in emu.emulator.calls.items() if c.to == destination and u not in earlier), None
        )

    await emu.run(call.wait_until(person, timeout=25, what=f"a call to {destination}"))
    return call, person(), asked_at


async def _agent_back(emu, call, person, outcome: str) -> None:
    """After the person's call ended: the model got `outcome`, the agent spoke to the caller again, and the
    caller ends the call normally."""
    await emu.run(person.ended.wait())
    ended_at = call.handset.heard_seconds
    await emu.run(call.wait_until(lambda: call.handset.first_speech_after(ended_at + 0.5), 20, "the agent"))
    await emu.run(call.handset.next_reply(timeout=20))
    await emu.run(call.say("thank you goodbye"))
    await emu.run(call.ended.wait())
    row = await stored(call.uuid)
    assert row.handoff_to == "Sales" and row.handoff_outcome == outcome
    assert row.end_reason != "handed off to Sales"
    invocation = await sync_to_async(ToolInvocation.objects.get)(call=row, tool_name="warm_transfer")
    assert invocation.result["ok"] is False and invocation.result["outcome"] == outcome
    assert "offer a callback" in invocation.result["instructions"]
    said = await segments(row)
    assert ("agent", after_tool_line(outcome)) in said, said
    assert call.uuid not in {uuid for _, uuid in emu.emulator.conference_log}, "the caller joined a room"


@pytest.mark.production  # with Redis the person's webhooks reach the port over the channel layer
async def test_accepted_bridges_caller_and_person_in_one_conference(
    plivo_server, plivo_emulator, plivo_agent
):
    """The person (…01) hears the brief, presses 1 and joins a conference; the caller's leg is moved into the
    same room by Plivo's transfer API. The agent has left (record: handed off, accepted, seconds) while the
    caller is still up with the person; the caller's hangup ends the person's leg too."""
    emu = plivo_emulator
    call, person, asked_at = await _ask_for_sales(emu, plivo_agent, "+15005550201")
    await emu.run(
        call.wait_until(lambda: call.conference and person.conference, timeout=30, what="both in the room")
    )
    assert call.conference == person.conference
    members = {c.uuid for c in emu.emulator.conferences[call.conference]}
    assert members == {call.uuid, person.uuid}

    brief = person.spoken[0]
    assert brief.startswith(f"Call from +1 415 555 0177 about {REASON}."), person.spoken  # CALLER, as said
    assert brief.endswith("The caller was charged twice for order A12345."), brief
    assert person.spoken[1] == "Press 1 to take the call, or 2 to decline."  # keys only on Plivo
    assert person.digits_pressed == ["1"]
    assert call.handset.first_speech_after(asked_at + 1.0) is not None, "the caller heard no hold audio"

    row = await stored(call.uuid)
    assert row.status == "completed" and row.end_reason == "handed off to Sales"
    assert row.handoff_to == "Sales" and row.handoff_outcome == "accepted"
    assert 0.5 < row.handoff_seconds < 30
    assert not call.ended.is_set(), "the caller was hung up instead of handed over"
    moves = [r for r in emu.emulator.rest_requests if r[0] == "POST" and r[1].endswith(f"/Call/{call.uuid}/")]
    assert len(moves) == 1 and moves[0][2]["legs"] == "aleg" and "/conference/" in moves[0][2]["aleg_url"]
    deletes = [r for r in emu.emulator.rest_requests if r[0] == "DELETE" and call.uuid in r[1]]
    assert deletes == [], "the engine hung up the caller"

    await asyncio.sleep(1.0)  # the agent is gone: nothing more is recorded, the pair stays connected
    assert call.conference and person.conference
    await emu.run(call.hangup())
    await emu.run(person.ended.wait())
    assert person.end_reason == "ended by REST API" or person.hangup_source == "API Request"
    assert call.errors == [] and person.errors == [], (call.errors, person.errors)


async def test_declined_brings_the_agent_back(plivo_server, plivo_emulator, plivo_agent):
    """The person (…02) hears the brief and presses 2: the agent tells the caller, the call goes on."""
    emu = plivo_emulator
    call, person, _ = await _ask_for_sales(emu, plivo_agent, "+15005550202")
    await _agent_back(emu, call, person, "declined")
    assert person.digits_pressed == ["2"] and person.spoken[0].startswith("Call from")


async def test_no_answer_brings_the_agent_back(plivo_server, plivo_emulator, plivo_agent):
    """The person (…03) lets it ring: Plivo's hangup callback says no-answer; the agent is back."""
    emu = plivo_emulator
    call, person, _ = await _ask_for_sales(emu, plivo_agent, "+15005550203")
    await _agent_back(emu, call, person, "no-answer")
    assert person.final_status == "no-answer" and person.spoken == []
    create = [r for r in emu.emulator.rest_requests if r[0] == "POST" and r[1].endswith("/Call/")]
    assert create and float(create[-1][2]["ring_timeout"]) >= 5


async def test_busy_brings_the_agent_back(plivo_server, plivo_emulator, plivo_agent):
    """The person (…04) is busy: the agent is back with the caller."""
    emu = plivo_emulator
    call, person, _ = await _ask_for_sales(emu, plivo_agent, "+15005550204")
    await _agent_back(emu, call, person, "busy")
    assert person.final_status == "busy" and person.spoken == []


async def test_caller_hanging_up_on_hold_hangs_up_the_person(plivo_server, plivo_emulator, plivo_agent):
    """Thrown: the caller hangs up while the person (…01) is still hearing the brief. Survives: the
    person's call is hung up through the REST API when they press 1 (not left alone in a conference),
    and the call is stored as the caller's hangup."""
    emu = plivo_emulator
    call, person, _ = await _ask_for_sales(emu, plivo_agent, "+15005550201")
    await emu.run(person.wait_until(lambda: person.spoken, timeout=20, what="the brief"))
    await emu.run(call.hangup())
    await emu.run(person.ended.wait())
    assert person.hangup_source == "API Request" and not person.conference
    assert call.uuid not in {uuid for _, uuid in emu.emulator.conference_log}
    row = await stored(call.uuid)
    assert row.end_reason == "caller hung up" and row.handoff_outcome in ("abandoned", "failed")
