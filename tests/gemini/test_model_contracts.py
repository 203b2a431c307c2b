"""Per-model setup contracts with the real google-genai SDK: gemini-3.8-live refuses the fields its
model page says were removed or cannot be turned off, and the 2.5 model keeps accepting them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from google.genai import errors

from .conftest import AUDIO_CONFIG, MODEL, collect_turn, raw_close_of, raw_connect

LIVE_38 = "gemini-3.8-live"
UNKNOWN_AFFECTIVE = (
    '1007 None. Invalid JSON payload received. Unknown name "enableAffectiveDialog" at '
    "'setup.generation_config': Cannot find field."
)
INVALID = "1007 None. Request contains an invalid argument."

REFUSED_ON_38: list[tuple[str, dict[str, Any], str]] = [
    ("v1beta", {"enable_affective_dialog": True}, UNKNOWN_AFFECTIVE),
    ("v1beta", {"enable_affective_dialog": False}, UNKNOWN_AFFECTIVE),
    ("v1alpha", {"proactivity": {"proactive_audio": False}}, INVALID),
    ("v1beta", {"thinking_config": {"thinking_budget": 1024}}, INVALID),
    ("v1beta", {"thinking_config": {"thinking_level": "LOW"}}, INVALID),
]


async def _answered(client: Any, model: str, extra: dict[str, Any]) -> str:
    """Connect with `extra` in the config, say something, return what the model answered."""
    async with client.aio.live.connect(model=model, config={**AUDIO_CONFIG, **extra}) as session:
        await session.send_realtime_input(text="Hello, can you hear me?")
        turn = await collect_turn(session)
    return turn.said


@pytest.mark.parametrize("model", [LIVE_38, "gemini-3.8-live-extended-thinking"])
@pytest.mark.parametrize(("version", "extra", "reason"), REFUSED_ON_38)
async def test_3_8_refuses_removed_and_fixed_fields(emulator, model, version, extra, reason):
    with pytest.raises(errors.APIError) as info:
        await _answered(emulator.client(api_version=version), model, extra)
    assert info.value.code == 1007
    assert str(info.value) == reason


@pytest.mark.parametrize(("version", "extra", "_reason"), REFUSED_ON_38)
async def test_2_5_accepts_what_3_8_refuses(emulator, version, extra, _reason):
    said = await _answered(emulator.client(api_version=version), MODEL, extra)
    assert said.strip()


@pytest.mark.parametrize(
    ("version", "extra"), [("v1beta", {}), ("v1alpha", {"proactivity": {"proactive_audio": True}})]
)
async def test_3_8_accepts_its_own_setup(emulator, version, extra):
    said = await _answered(emulator.client(api_version=version), LIVE_38, extra)
    assert said.strip()


async def test_3_8_refusal_names_the_field_as_a_raw_client_spelled_it(emulator):
    ws = await raw_connect(emulator)
    await ws.send(
        json.dumps(
            {"setup": {"model": f"models/{LIVE_38}", "generation_config": {"enable_affective_dialog": True}}}
        )
    )
    assert await raw_close_of(ws) == (
        1007,
        "Invalid JSON payload received. Unknown name \"enable_affective_dialog\" at 'setup.generation_config': "
        "Cannot find field."[:123],
    )


@pytest.mark.parametrize(
    ("version", "extra"),
    [("v1beta", {"enable_affective_dialog": True}), ("v1alpha", {"proactivity": {"proactive_audio": True}})],
)
async def test_3_1_never_answers_a_setup_with_native_audio_knobs(emulator, version, extra):
    """As observed on the real service: no setupComplete and no close, so connect times out."""
    client = emulator.client(api_version=version)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(2):
            await _answered(client, "gemini-3.1-flash-live-preview", extra)


async def test_3_1_answers_a_thinking_level(emulator):
    said = await _answered(
        emulator.client(), "gemini-3.1-flash-live-preview", {"thinking_config": {"thinking_level": "LOW"}}
    )
    assert said.strip()
