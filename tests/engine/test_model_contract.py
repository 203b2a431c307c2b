"""The engine sends each model only the setup fields it accepts (the catalogue's contract), at the wire:
real google-genai SDK, the Gemini emulator, a call through `start_call`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

REFUSED_ON_3_8 = (
    "enableAffectiveDialog",
    "enable_affective_dialog",
    "proactivity",
    "thinkingConfig",
    "thinking_config",
)


async def _call_with(demo_agent, dial, gemini, marker: str, **fields: Any) -> dict[str, Any]:
    """Place a call after `fields` were written to the agent row (bypassing the admin form, as a data
    import or a model switch would); return the setup the emulator received."""
    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(
        system_prompt=f"You are a test agent ({marker}) for {{caller_number}}.", **fields
    )
    line = await dial()
    await line.wait_for_audio(0.5)  # the greeting plays: the setup was accepted
    await line.hang_up_and_wait()
    session = next(s for s in reversed(gemini.sessions) if s.setup and marker in json.dumps(s.setup))
    assert session.close_code in (None, 1000), (session.close_code, session.close_reason)
    return session.setup


async def test_3_8_call_sends_no_field_the_model_refuses(demo_agent, dial, gemini):
    setup = await _call_with(
        demo_agent,
        dial,
        gemini,
        "m38",
        model="gemini-3.8-live",
        affective_dialog=True,
        proactive_audio=False,
        thinking_budget=1024,
        thinking_level="low",
    )
    assert setup["model"] == "models/gemini-3.8-live"
    wire = json.dumps(setup)
    for name in REFUSED_ON_3_8:
        assert f'"{name}"' not in wire, name


async def test_2_5_call_carries_affective_dialog_and_thinking_budget(demo_agent, dial, gemini):
    setup = await _call_with(
        demo_agent,
        dial,
        gemini,
        "m25",
        model="gemini-2.5-flash-native-audio-preview-12-2025",
        affective_dialog=True,
        thinking_budget=512,
    )
    gen = setup["generationConfig"]
    assert gen["enableAffectiveDialog"] is True
    assert gen["thinkingConfig"] == {"thinking_budget": 512}
    assert "thinking_level" not in json.dumps(setup)


async def test_3_1_call_carries_a_thinking_level_not_a_budget(demo_agent, dial, gemini):
    setup = await _call_with(
        demo_agent,
        dial,
        gemini,
        "m31",
        model="gemini-3.1-flash-live-preview",
        thinking_level="low",
        thinking_budget=512,
        affective_dialog=True,
    )
    gen = setup["generationConfig"]
    assert gen["thinkingConfig"] == {"thinking_level": "LOW"}
    assert "enableAffectiveDialog" not in gen
