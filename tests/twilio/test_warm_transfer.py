"""Warm transfer on Twilio end to end: the Twilio emulator's caller -> real daphne -> engine -> Gemini
emulator (whose scenario calls warm_transfer when the caller asks for a person) -> Twilio REST (the
person's call, TwiML with the brief in a <Gather>) -> the person, modelled by the emulator by the
destination's last two digits (01 presses 1, 02 presses 2, 03 never answers, 04 is busy), whose answer
comes back through the signed transfer webhooks; on acceptance both calls join one <Conference>."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from emulators.twilio.phone import rms
from tests.support.carrier import heard, segments, stored
from tests.support.warm_transfer import ASK, CALLER, add_sales

from .conftest import TWILIO_NUMBER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _person(emu, number: str, before: set[str]):
    """The person's call to `number` placed since `before` (the calls the emulator had then)."""
    return next(
        (c for c in list(emu.emulator.calls.values()) if c.to == number and c.sid not in before), None
    )


async def _ask_for_a_person(emu, twilio_agent, destination: str):
    await sync_to_async(add_sales)(twilio_agent, destination)
    before = set(emu.emulator.calls)
    call = await emu.place(to=TWILIO_NUMBER, from_=CALLER)
    await emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    await heard(emu, call)  # the greeting
    await emu.run(call.say(ASK))
    await emu.run(
        call.wait_until(lambda: _person(emu, destination, before), timeout=30, what="the person's call")
    )
    return call, _person(emu, destination, before)


def _tool_response(gemini_emulator) -> dict:
    for session in reversed(gemini_emulator.sessions):
        ids = {c["id"] for c in session.tool_calls if c["name"] == "warm_transfer"}
        for response in session.tool_responses:
            if response.get("id") in ids:
                return response["response"]
    raise AssertionError("the model never got a warm_transfer response")


async def test_accepted_bridges_caller_and_person_and_the_agent_leaves(
    twilio_server, twilio_emulator, twilio_agent, transfer_rule
):
    """The person (…01) hears the brief and presses 1: the caller heard hold audio until then, both calls
    are in one conference, the app never hung the caller up, and the record shows the hand-off."""
    emu = twilio_emulator
    call, person = await _ask_for_a_person(emu, twilio_agent, "+15005550201")
    on_hold_from = call.handset.heard_seconds
    await emu.run(call.wait_until(lambda: call.conference, timeout=30, what="the caller in a conference"))
    on_hold = call.handset.heard_since(on_hold_from)  # from the person's call until the conference

    assert person.said and person.said[0].startswith("Call from +1 415 555 0177 about a billing question.")
    assert "charged twice" in person.said[0] and "Press 1 or say yes" in person.said[0]
    assert person.gathers and person.gathers[0]["Digits"] == "1"
    assert person.from_ == TWILIO_NUMBER
    room = call.conference
    await emu.run(person.wait_until(lambda: person.conference == room, timeout=10, what="the person in it"))
    assert sorted(emu.emulator.conferences[room]) == sorted([call.sid, person.sid])
    assert rms(on_hold) > 100, "the caller heard silence while on hold"

    row = await stored(call.sid)
    assert row.status == "completed" and row.end_reason == "handed off to Sales"
    assert row.handoff_to == "Sales" and row.handoff_outcome == "accepted"
    assert 0 < row.handoff_seconds < 30
    assert not call.ended.is_set() and not person.ended.is_set(), "a leg was hung up after the hand-off"
    rest_hangups = [r for r in emu.emulator.rest_requests if r[1].endswith(f"/Calls/{call.sid}.json")]
    assert all("Status" not in r[2] for r in rest_hangups), "the app hung up the caller it handed off"
    assert call.errors == [] and person.errors == []

    await emu.run(call.hangup())  # the caller leaves: the conference ends for the person too
    await emu.run(
        person.wait_until(lambda: person.ended.is_set(), timeout=10, what="the person's leg to end")
    )


@pytest.mark.parametrize(
    ("destination", "outcome"),
    [("+15005550202", "declined"), ("+15005550203", "no-answer"), ("+15005550204", "busy")],
)
async def test_not_taken_brings_the_agent_back(
    twilio_server, twilio_emulator, twilio_agent, transfer_rule, gemini_emulator, destination, outcome
):
    """The person declines (…02), never answers (…03) or is busy (…04): the caller stays on the stream,
    the model is told the outcome and what to say, the agent speaks to the caller again, and the call
    goes on to a normal goodbye with the attempt on the record."""
    emu = twilio_emulator
    call, person = await _ask_for_a_person(emu, twilio_agent, destination)
    await emu.run(
        person.wait_until(lambda: person.ended.is_set(), timeout=20, what="the person's leg to end")
    )
    back_from = call.handset.heard_seconds
    await emu.run(
        call.wait_until(
            lambda: call.handset.speech_seconds(back_from) > 0.8,
            timeout=20,
            what="the agent to speak again",
        )
    )
    response = await asyncio.get_running_loop().run_in_executor(None, _tool_response, gemini_emulator)
    assert response["output"]["ok"] is False and response["output"]["outcome"] == outcome
    assert "offer a callback" in response["output"]["instructions"]
    if outcome == "declined":
        assert person.gathers and person.gathers[0]["Digits"] == "2" and person.said
    else:
        assert person.status == outcome and person.said == []

    # (checked before the goodbye: the emulator's own teardown race after a REST hang-up is not ours)
    assert call.errors == [] and person.errors == []
    await asyncio.sleep(2)
    await emu.run(call.say("thank you goodbye"))
    await emu.run(call.wait_until(lambda: call.ended.is_set(), timeout=30, what="the goodbye and hang-up"))
    row = await stored(call.sid)
    assert row.handoff_to == "Sales" and row.handoff_outcome == outcome
    assert row.end_reason.startswith("agent ended the call")
    said = await segments(row)
    assert ("agent", f"The transfer outcome is {outcome}.") in [(s, t.strip()) for s, t in said], said
    assert call.conference == "" and person.conference == ""


@pytest.fixture
def slow_person(twilio_emulator):
    """The never-answering person rings for 20 s (instead of the emulator's 2 s)."""
    twilio_emulator.emulator.person_ring_s = 20.0
    yield
    twilio_emulator.emulator.person_ring_s = 2.0


async def test_caller_hanging_up_on_hold_cancels_the_persons_call(
    twilio_server, twilio_emulator, twilio_agent, transfer_rule, slow_person
):
    """Thrown: the caller hangs up while the person's phone (…03) still rings. Survived: the app hangs up
    the person's call through the REST API (Twilio reports it canceled), and the call is stored as the
    caller hung up, with the transfer "abandoned"."""
    emu = twilio_emulator
    call, person = await _ask_for_a_person(emu, twilio_agent, "+15005550203")
    await asyncio.sleep(1.0)
    await emu.run(call.hangup())
    await emu.run(
        person.wait_until(lambda: person.ended.is_set(), timeout=15, what="the person's call to end")
    )
    assert person.status == "canceled"
    ended = [r for r in emu.emulator.rest_requests if r[1].endswith(f"/Calls/{person.sid}.json")]
    assert ended and ended[0][2].get("Status") == ["completed"], emu.emulator.rest_requests
    row = await stored(call.sid)
    assert row.end_reason == "caller hung up" and row.handoff_outcome == "abandoned"
