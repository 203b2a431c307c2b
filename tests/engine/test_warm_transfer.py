"""Warm transfer through the engine (`start_call`), the real google-genai SDK and the Gemini emulator, on the
in-process loopback line, whose person answers by the destination convention of every emulator (01
accepts, 02 declines, 03 never answers, 04 is busy)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from agents.hours import DAYS
from agents.models import Agent, Tool, TransferTarget
from calls.models import ToolInvocation
from engine import CallRequest, start_call
from engine.transfer import NOT_POSSIBLE
from telephony.loopback import LoopbackPort
from tests.support.warm_transfer import ASK

from .conftest import Line
from .test_engine import stored
from .test_tool_cancellation import _responses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CALLER = "+15550001111"  # the loopback caller of tests/engine/conftest.py


async def _sales(agent: Agent, destination: str, hours: str = "") -> None:
    @sync_to_async
    def setup():
        tool, _ = Tool.objects.get_or_create(
            name="warm_transfer",
            kind="warm_transfer",
            defaults={"description": "Hand the caller to a person."},
        )
        agent.tools.add(tool)
        TransferTarget.objects.create(agent=agent, name="Sales", destination=destination, hours=hours)

    await setup()


async def _until(predicate, timeout: float, what: str, line) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await line.caller.silence(0.1)


def _event(port, kind: str):
    return next(((t, v) for t, k, v in port.events if k == kind), None)


async def _invocation(call) -> ToolInvocation:
    return await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="warm_transfer")


async def test_accepted_hands_the_caller_to_the_person(demo_agent, dial, gemini, transfer_rule, staff_user):
    """The caller asks for a person; the person (…01) hears the brief and accepts. The caller heard hold
    audio meanwhile, is bridged, and the engine leaves without hanging up; the record shows the hand-off."""
    await _sales(demo_agent, "+15005550201")
    line = await dial()
    await line.wait_quiet()
    await line.caller.say(ASK)
    await _until(lambda: line.port.bridged_to, 20, "the person to accept", line)
    await asyncio.wait_for(line.handle.wait(), 10)
    call = await stored(line.handle.call_id)

    offered_at, offer = _event(line.port, "warm_transfer")
    heard_at, brief = _event(line.port, "person_heard")
    assert offer.destination == "+15005550201" and offer.target_name == "Sales"
    assert brief.startswith("Call from +1 555 000 1111 about a billing question.")
    assert "charged twice" in brief and "Press 1 or say yes" in brief
    on_hold = [t for t in line.port.frame_times if offered_at <= t <= heard_at]
    assert len(on_hold) >= 15, "the caller heard nothing while on hold"
    assert _event(line.port, "hangup") is None, "the engine hung up on a caller handed to a person"
    assert line.port.bridged_to == "+15005550201"
    assert call.status == "completed" and call.end_reason == "handed off to Sales"
    assert call.handoff_to == "Sales" and call.handoff_outcome == "accepted"
    assert 0.4 <= call.handoff_seconds < 10
    texts = await sync_to_async(lambda: [s.text for s in call.segments.all()])()
    assert any("Sales took the call" in t for t in texts)

    # The call page shows the hand-off to staff.
    client = Client()
    await sync_to_async(client.force_login)(staff_user)
    page = (await sync_to_async(client.get)(f"/calls/{call.pk}/")).content.decode()
    assert (
        f"to Sales: Accepted (the caller was handed to the person) after {call.handoff_seconds:.1f} s" in page
    )
    # And the JSON API.
    from calls.api import tokens

    token = (await sync_to_async(tokens.mint)("transfer test", created_by=staff_user))[1]
    api = await sync_to_async(client.get)(f"/api/calls/{call.pk}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.json()["handoff"] == {"to": "Sales", "outcome": "accepted", "seconds": call.handoff_seconds}


async def test_declined_brings_the_agent_back(demo_agent, dial, gemini, transfer_rule):
    """The person (…02) declines: hold audio stops, the model gets outcome "declined" with what to tell
    the caller, the agent speaks again, and the call goes on to a normal goodbye."""
    await _sales(demo_agent, "+15005550202")
    line = await dial()
    await line.wait_quiet()
    await line.caller.say(ASK)
    await _until(lambda: _event(line.port, "person_heard"), 20, "the person to hear the brief", line)
    heard_at, _ = _event(line.port, "person_heard")
    await _until(
        lambda: any(t > heard_at + 1.0 for t in line.port.frame_times), 15, "the agent to speak again", line
    )
    await line.wait_quiet()
    await line.caller.say("thank you goodbye")
    await asyncio.wait_for(line.port.hung_up.wait(), 20)
    await line.handle.wait()
    call = await stored(line.handle.call_id)

    inv = await _invocation(call)
    (response,) = _responses(gemini, inv.gemini_call_id)
    output = response["response"]["output"]
    assert output["ok"] is False and output["outcome"] == "declined"
    assert "offer a callback" in output["instructions"]
    assert line.port.bridged_to == ""
    assert call.handoff_to == "Sales" and call.handoff_outcome == "declined"
    assert call.end_reason.startswith("agent ended the call")


async def test_closed_target_is_refused_with_its_hours(demo_agent, dial, gemini, transfer_rule):
    """Sales is open only on a day that is not today: nobody is dialled, the model is told it is closed
    and when it opens, and the call record notes the closed attempt."""
    other_day = DAYS[(timezone.localtime().weekday() + 2) % 7].capitalize()
    await _sales(demo_agent, "+15005550201", hours=f"{other_day} 09:00-17:00")
    line = await dial()
    await line.wait_quiet()
    await line.caller.say(ASK)
    await line.wait_quiet(quiet=1.5)
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)

    inv = await _invocation(call)
    assert inv.error == f"Sales is closed now; hours {other_day} 09:00-17:00"
    assert _event(line.port, "warm_transfer") is None
    assert call.handoff_outcome == "closed"


async def test_caller_hanging_up_on_hold_abandons_the_transfer(demo_agent, dial, gemini, transfer_rule):
    """Thrown: the caller hangs up while the person's phone (…03, never answered) still rings. Survived:
    the dial is given up, the call ends as the caller hung up, the record says "abandoned"."""
    await _sales(demo_agent, "+15005550203")
    line = await dial()
    await line.wait_quiet()
    await line.caller.say(ASK)
    await _until(lambda: _event(line.port, "warm_transfer"), 20, "the person to be dialled", line)
    await line.caller.silence(1.0)
    line.handle.remote_hangup("test caller hung up")
    await asyncio.wait_for(line.handle.wait(), 15)
    call = await stored(line.handle.call_id)

    assert call.end_reason == "test caller hung up" and call.handoff_outcome == "abandoned"
    assert _event(line.port, "person_heard") is None and line.port.bridged_to == ""


class NoTransferPort(LoopbackPort):
    """A line that cannot reach a person (as the browser test call)."""

    warm_transfer = None


async def test_a_line_without_warm_transfer_says_so(demo_agent, gemini, transfer_rule):
    await _sales(demo_agent, "+15005550201")
    port = NoTransferPort()
    handle = await start_call(CallRequest(carrier="sip", from_number=CALLER, to_number="engine"), port)
    line = Line(handle, port)
    await line.wait_quiet()
    await line.caller.say(ASK)
    await line.wait_quiet(quiet=1.5)
    await line.hang_up_and_wait()
    inv = await _invocation(await stored(handle.call_id))
    assert inv.error == NOT_POSSIBLE
