"""Extended thinking: `turnComplete` no longer means the model is idle; only `interactionStatus` IDLE does.
Through the engine (`start_call`), the real google-genai SDK and the Gemini emulator."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent
from calls.models import TranscriptSegment

from .test_engine import stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

GOODBYE = "Goodbye, and thank you for calling."


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
