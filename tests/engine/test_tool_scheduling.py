"""Per-tool scheduling and non-blocking calls, through the engine (`start_call`), the real google-genai SDK
and the Gemini emulator: each tool's response carries its own `scheduling` on 3.8, the emulated model
uses it, and the agent's audio keeps reaching the caller while a slow webhook runs."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from calls.models import ToolInvocation

from .orders import Orders as _Orders
from .test_engine import stored
from .test_tool_cancellation import _agent_with_lookup, _responses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

AFTER_TOOL = "Thanks for waiting. Your order has shipped and should arrive tomorrow."
PREFACE = "Let me check that for you."


async def _order_then_goodbye(dial, delay: float = 0.0):
    _Orders.delay = delay
    line = await dial()
    await line.wait_quiet()
    await line.caller.say("i would like to check the status of my order")
    await line.wait_quiet(quiet=1.5)
    await line.caller.say("thank you goodbye")
    await asyncio.wait_for(line.port.hung_up.wait(), 20)
    await line.handle.wait()
    return line


def _session_of(gemini, call_id: str):
    return next(s for s in gemini.sessions if any(c.get("id") == call_id for c in s.tool_calls))


@pytest.mark.parametrize("scheduling", ["INTERRUPT", "SILENT"])
async def test_a_tool_row_chooses_its_scheduling(demo_agent, dial, gemini, orders, scheduling):
    """Thrown: a webhook tool set to INTERRUPT or SILENT in its row, on gemini-3.8-live. Survived: the
    response on the wire carries that scheduling; the emulated model speaks the result for INTERRUPT and
    stays silent about it for SILENT; end_call keeps its own default (WHEN_IDLE) and the call ends."""
    await _agent_with_lookup(demo_agent, orders.server_port, "gemini-3.8-live", scheduling)
    line = await _order_then_goodbye(dial)
    call = await stored(line.handle.call_id)
    inv = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="lookup_order")
    (response,) = _responses(gemini, inv.gemini_call_id)
    assert response["scheduling"] == scheduling
    said = _session_of(gemini, inv.gemini_call_id).said
    assert (AFTER_TOOL in said) is (scheduling == "INTERRUPT")
    bye = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="end_call")
    assert _responses(gemini, bye.gemini_call_id)[0]["scheduling"] == "WHEN_IDLE"
    assert call.end_reason.startswith("agent ended the call")


async def test_agent_audio_keeps_flowing_while_a_slow_tool_runs(demo_agent, dial, gemini, orders):
    """Thrown: a webhook that takes 3 s, on gemini-3.8-live (non-blocking calls). Survived: the toolCall
    came before the model's preface, the caller heard the preface while the webhook was still running
    (frames played between its start and its end), and the result was spoken afterwards."""
    await _agent_with_lookup(demo_agent, orders.server_port, "gemini-3.8-live")
    line = await _order_then_goodbye(dial, delay=3.0)
    started, finished = _Orders.started[0], _Orders.finished[0]
    # LoopbackPort stamps frames with the loop's clock, which is time.monotonic() like the webhook's.
    assert abs(asyncio.get_running_loop().time() - time.monotonic()) < 0.05
    during = [t for t in line.port.frame_times if started < t < finished]
    assert len(during) * 0.02 >= 0.5, f"only {len(during)} frames reached the caller while the tool ran"
    call = await stored(line.handle.call_id)
    inv = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="lookup_order")
    assert inv.result == {"status": "shipped"} and not inv.error
    assert _responses(gemini, inv.gemini_call_id)[0]["scheduling"] == "WHEN_IDLE"
    session = _session_of(gemini, inv.gemini_call_id)
    assert session.said.index(PREFACE) < session.said.index(AFTER_TOOL)
