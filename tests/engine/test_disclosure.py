"""The AI disclosure: spoken first, not cut off by a caller talking over it, recorded on the call.

Real SDK, the Gemini emulator, the loopback line, through `start_call` like every transport.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from agents.models import DEFAULT_AI_DISCLOSURE

from .test_engine import segments, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.mark.parametrize("disclosure", [DEFAULT_AI_DISCLOSURE, ""], ids=["disclosure", "none"])
async def test_a_caller_talking_over_the_disclosure_does_not_cut_it(demo_agent, dial, disclosure):
    """Thrown at it: the caller says "hello" half a second into the opening. With a disclosure the
    opening plays to its end (no `clear` to the carrier), Gemini hears the caller only after it, and
    the call's transcript records the disclosure as given; without one (the control) the same words
    interrupt the greeting."""
    demo_agent.ai_disclosure = disclosure
    await sync_to_async(demo_agent.save)()
    line = await dial()
    await line.wait_for_audio(0.5)
    await line.caller.say("hello", then_silence=0.0)
    await line.wait_quiet(quiet=1.0)
    cleared = any(kind == "clear" for _, kind, _ in line.port.events)
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)
    lines = await sync_to_async(segments)(call.id)
    agent_lines = [text for speaker, text in lines if speaker == "agent"]
    if disclosure:
        assert not cleared, "the disclosure was cut off by the caller"
        assert agent_lines[0].startswith(disclosure.rstrip(".")), agent_lines
        assert ("system", f"AI disclosure given: {disclosure}") in lines
    else:
        assert cleared, "control: talking over the greeting should interrupt it"
        assert not any(text.startswith("AI disclosure") for _, text in lines)


async def test_new_agents_in_the_admin_start_with_the_disclosure(admin_client):
    """A staff member opening "Add agent" finds the standard disclosure line already filled in."""
    page = await sync_to_async(admin_client.get)("/admin/agents/agent/add/")
    assert page.status_code == 200
    assert DEFAULT_AI_DISCLOSURE in page.content.decode()
