"""What each tool call answers, through the engine (`start_call`), the real google-genai SDK and the Gemini
emulator: an explicit status (and whether a retry makes sense) on every response, and identical calls
repeated back to back within one model turn run once (Gemini 3.8 is documented to repeat them)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from calls.models import ToolInvocation

from .orders import Orders
from .test_engine import stored
from .test_tool_cancellation import _agent_with_lookup, _responses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MODEL = "gemini-3.8-live"


@pytest.fixture
def repeating(gemini):
    """The emulated model sends its lookup_order call twice, identical, back to back."""
    rule = next(r for r in gemini.server.scenario.keywords if r.get("call", {}).get("name") == "lookup_order")
    rule["call"]["repeat"] = 2
    yield
    rule["call"].pop("repeat", None)


async def _converse(dial, *utterances: str):
    line = await dial()
    await line.wait_quiet()
    for text in utterances:
        await line.caller.say(text)
        await line.wait_quiet(quiet=1.5)
    await line.caller.say("thank you goodbye")
    await asyncio.wait_for(line.port.hung_up.wait(), 20)
    await line.handle.wait()
    return await stored(line.handle.call_id)


async def test_identical_calls_in_one_turn_run_once(demo_agent, dial, gemini, orders, repeating):
    """Thrown: on gemini-3.8-live the model sends lookup_order twice with the same arguments in one turn,
    and the caller asks again in a later turn (twice more). Survived: the webhook ran once per turn
    (twice in all, not four times); each repeat got the first call's response under its own id; one
    ToolInvocation per turn, each counting one repeat."""
    Orders.delay = 0.5
    await _agent_with_lookup(demo_agent, orders.server_port, MODEL)
    order = "i would like to check the status of my order"
    before = len(gemini.sessions)
    call = await _converse(dial, order, order)
    sessions = gemini.sessions[before:]  # this call's (the emulator is shared by the test session)
    sent = [c for s in sessions for c in s.tool_calls if c["name"] == "lookup_order"]
    assert len(sent) == 4 and len({c["id"] for c in sent}) == 4
    assert len(Orders.started) == 2, "an identical call in the same turn ran again"
    rows = await sync_to_async(list)(ToolInvocation.objects.filter(call=call, tool_name="lookup_order"))
    assert len(rows) == 2 and [r.repeats for r in rows] == [1, 1]
    for c in sent:
        (response,) = _responses(gemini, c["id"])
        assert response["response"] == {"status": "ok", "output": {"status": "shipped"}}


@pytest.mark.parametrize(
    ("status", "delay", "expected"),
    [
        (503, 0.0, {"status": "error", "retryable": True}),
        (404, 0.0, {"status": "error", "retryable": False}),
        (200, 2.0, {"status": "error", "retryable": True}),  # past the tool's 1 s timeout
    ],
)
async def test_failed_webhooks_say_whether_a_retry_makes_sense(
    demo_agent, dial, gemini, orders, status, delay, expected
):
    """Thrown: a webhook answering 503, 404, or nothing within its timeout. Survived: the response on the
    wire says status error, with retryable true for the 5xx and the timeout and false for the 4xx; the
    ToolInvocation stores the same; end_call (a built-in) answers status ok, and the call ends normally."""
    Orders.status, Orders.delay = status, delay
    await _agent_with_lookup(demo_agent, orders.server_port, MODEL)
    await sync_to_async(
        lambda: (
            type(demo_agent)
            .objects.get(pk=demo_agent.pk)
            .tools.filter(name="lookup_order")
            .update(timeout_seconds=1)
        )
    )()
    call = await _converse(dial, "i would like to check the status of my order")
    inv = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="lookup_order")
    (response,) = _responses(gemini, inv.gemini_call_id)
    body = response["response"]
    assert {k: body[k] for k in expected} == expected and body["error"] == inv.error
    assert "output" not in body
    assert inv.retryable is expected["retryable"]
    bye = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="end_call")
    assert _responses(gemini, bye.gemini_call_id)[0]["response"]["status"] == "ok"
    assert call.status == "completed"
