"""Extended thinking: `turnComplete` no longer means the model is idle; only `interactionStatus` IDLE does.
Through the engine (`start_call`), the real google-genai SDK and the Gemini emulator."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent
from calls.models import ToolInvocation, TranscriptSegment

from .orders import Orders
from .test_engine import stored
from .test_tool_cancellation import _agent_with_lookup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

GOODBYE = "Goodbye, and thank you for calling."
PREFACE = "Let me check that for you."
AFTER_TOOL = "Thanks for waiting. Your order has shipped and should arrive tomorrow."
CLOSING = "We are closing now. Goodbye."


@pytest.fixture
def goodbye_with_preface(gemini):
    """The emulated model says "One moment please." while its end_call runs, then the goodbye."""
    rule = next(r for r in gemini.server.scenario.keywords if r.get("call", {}).get("name") == "end_call")
    rule["reply"] = "One moment please."
    yield
    rule.pop("reply", None)


@pytest.mark.parametrize("model", ["gemini-3.8-live-extended-thinking", "gemini-3.8-live"])
async def test_hang_up_waits_until_the_model_is_idle(demo_agent, dial, gemini, goodbye_with_preface, model):
    """Thrown: the caller says goodbye; the model calls end_call and speaks a preface while it runs. On
    extended thinking the preface ends with a turnComplete while the interaction goes on (the emulator
    sends interactionStatus IDLE only after the goodbye). Survived: the engine hangs up only once the
    model is idle, so the caller hears the goodbye on both models, and the call ends as end_call asked."""
    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(model=model)
    before = len(gemini.sessions)
    line = await dial()
    await line.wait_quiet()
    await line.caller.say("thank you goodbye")
    await asyncio.wait_for(line.port.hung_up.wait(), 20)
    await line.handle.wait()
    call = await stored(line.handle.call_id)
    assert call.end_reason.startswith("agent ended the call")
    (session,) = gemini.sessions[before:]
    assert session.said[-2:] == ["One moment please.", GOODBYE]
    agent_said = await sync_to_async(list)(
        TranscriptSegment.objects.filter(call=call, speaker="agent").values_list("text", flat=True)
    )
    assert GOODBYE in " ".join(agent_said), agent_said


async def test_closing_line_waits_for_idle_not_for_a_turn_complete(demo_agent, dial, gemini, orders):
    """Thrown: on extended thinking, the closing line (what max duration and drain say, via say_goodbye) is
    asked for while a 3 s webhook runs and the model has closed its spoken preface with a turnComplete.
    Survived: the engine waits for interactionStatus IDLE, so the model's answer from the tool is spoken
    in full (not interrupted by the closing line, its call not cancelled), then the closing line, then
    the hang-up."""
    Orders.delay = 3.0
    await _agent_with_lookup(demo_agent, orders.server_port, "gemini-3.8-live-extended-thinking")
    before = len(gemini.sessions)
    line = await dial()
    await line.wait_quiet()
    await line.caller.say("i would like to check the status of my order")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not Orders.started:  # the webhook is running
        assert loop.time() < deadline, "the tool was never called"
        await line.caller.silence(0.1)
    await line.wait_for_audio(0.3)  # the preface is playing
    # The engine waits up to grace / 2 for idle: the 3 s tool, then its answer spoken at real time.
    closing = asyncio.create_task(line.handle.say_goodbye(CLOSING, "closing test", grace=24))
    await asyncio.wait_for(line.port.hung_up.wait(), 30)
    await closing
    await line.handle.wait()
    call = await stored(line.handle.call_id)
    (session,) = gemini.sessions[before:]
    assert session.said[-3:] == [PREFACE, AFTER_TOOL, CLOSING]
    inv = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="lookup_order")
    assert not inv.cancelled and inv.result == {"status": "shipped"}
    agent_said = " ".join(
        await sync_to_async(list)(
            TranscriptSegment.objects.filter(call=call, speaker="agent").values_list("text", flat=True)
        )
    )
    assert AFTER_TOOL in agent_said and CLOSING in agent_said
    assert call.end_reason == "closing test"
