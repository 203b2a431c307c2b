"""Tool calls on a model with non-blocking calls, through the engine and the emulator: responses carry
`scheduling`, and a toolCallCancellation (the caller barged in while a tool ran) really stops the tool
and is recorded on its ToolInvocation."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent, Tool
from calls.models import ToolInvocation

from .orders import Orders as _Orders
from .test_engine import stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _agent_with_lookup(agent: Agent, port: int, model: str, scheduling: str = "") -> None:
    @sync_to_async
    def setup():
        Agent.objects.filter(pk=agent.pk).update(model=model)
        tool = Tool.objects.create(
            name="lookup_order",
            kind="webhook",
            description="Look up an order.",
            parameters={"type": "OBJECT", "properties": {"order_id": {"type": "STRING"}}},
            url=f"http://127.0.0.1:{port}/orders",
            timeout_seconds=10,
            scheduling=scheduling,
        )
        agent.tools.add(tool)

    await setup()


def _responses(gemini, call_id: str) -> list[dict]:
    """Tool responses the emulator received for the session of this call's tool call."""
    for session in gemini.sessions:
        if any(c.get("id") == call_id for c in session.tool_calls):
            return [r for r in session.tool_responses if r.get("id") == call_id]
    raise AssertionError("no session issued that call id")


@pytest.mark.parametrize(
    ("model", "scheduling"),
    [("gemini-3.8-live", "WHEN_IDLE"), ("gemini-2.5-flash-native-audio-preview-12-2025", None)],
)
async def test_tool_response_carries_scheduling_on_non_blocking_models(
    demo_agent, dial, gemini, orders, model, scheduling
):
    _Orders.delay = 0.0
    await _agent_with_lookup(demo_agent, orders.server_port, model)
    line = await dial()
    await line.wait_quiet()
    await line.caller.say("i would like to check the status of my order")
    await line.wait_quiet(quiet=1.0)
    await line.caller.say("thank you goodbye")
    await asyncio.wait_for(line.port.hung_up.wait(), 20)
    await line.handle.wait()
    call = await stored(line.handle.call_id)
    inv = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="lookup_order")
    assert inv.result == {"status": "shipped"} and not inv.cancelled
    (response,) = _responses(gemini, inv.gemini_call_id)
    assert response.get("scheduling") == scheduling
    # end_call's result asks for the goodbye, so it is never SILENT: the caller hears it.
    bye = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="end_call")
    (response,) = _responses(gemini, bye.gemini_call_id)
    assert response.get("scheduling") == scheduling
    assert call.end_reason.startswith("agent ended the call")


async def test_barge_in_cancels_the_running_tool(demo_agent, dial, gemini, orders):
    _Orders.delay = 3.0
    await _agent_with_lookup(demo_agent, orders.server_port, "gemini-3.8-live")
    line = await dial()
    await line.wait_quiet()
    await line.caller.say("i would like to check the status of my order")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not _Orders.started:  # the webhook is running
        assert loop.time() < deadline, "the tool was never called"
        await line.caller.silence(0.1)
    await line.caller.say("can you tell me a long story")  # the caller interrupts the pending turn
    await line.wait_for_audio(0.5)
    await line.caller.silence(3.5)  # longer than the webhook would have taken
    await line.hang_up_and_wait()

    call = await stored(line.handle.call_id)
    inv = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="lookup_order")
    assert inv.cancelled is True
    assert inv.result is None and "cancelled" in inv.error
    assert inv.latency_ms < 3000, "the tool ran to the end instead of being cancelled"
    assert _responses(gemini, inv.gemini_call_id) == []  # no answer to a call Gemini dropped
    assert call.status == "completed"
