"""Extended thinking with the real google-genai SDK against the emulator: `interactionStatus` says when the
model is idle, and a `turnComplete` that closes a spoken preface while a tool runs is not idle."""

from __future__ import annotations

import pytest
from google.genai import types

from .conftest import collect_turn
from .test_tools_and_sessions import TOOLS

EXTENDED = "gemini-3.8-live-extended-thinking"
CONFIG = types.LiveConnectConfig(
    response_modalities=["AUDIO"], tools=TOOLS, output_audio_transcription=types.AudioTranscriptionConfig()
)


async def _order_turn(emulator, model: str):
    async with emulator.client().aio.live.connect(model=model, config=CONFIG) as session:

        async def answer(tool_call):
            await session.send_tool_response(
                function_responses=[
                    types.FunctionResponse(
                        id=fc.id, name=fc.name, response={"status": "shipped"}, scheduling="WHEN_IDLE"
                    )
                    for fc in tool_call.function_calls
                ]
            )

        await session.send_realtime_input(text="where is my order")
        return await collect_turn(session, on_tool_call=answer)


@pytest.mark.asyncio
async def test_extended_thinking_is_idle_only_per_interaction_status(emulator):
    """Thrown: a non-blocking call with a spoken preface on the extended-thinking model. Survived: one SDK
    receive() loop (which stops on interactionStatus IDLE, not on turnComplete) sees IN_PROGRESS, the
    toolCall before the preface audio, a turnComplete that is not idle, then the answer, and a final
    turnComplete with IDLE."""
    turn = await _order_turn(emulator, EXTENDED)
    events = [e for e in turn.events if e != "audio"]
    assert events[0] == "status:IN_PROGRESS" and events[1] == "tool_call"
    assert turn.events.index("tool_call") < turn.events.index("audio")  # non-blocking: call first
    assert turn.events.count("turn_complete") == 2
    first = events.index("turn_complete")
    assert events[first + 1] in ("status:REQUIRES_ACTION", "status:IN_PROGRESS")
    assert events[-2:] == ["turn_complete", "status:IDLE"]
    assert turn.said.startswith("Let me check that for you.") and "shipped" in turn.said


@pytest.mark.asyncio
async def test_3_8_live_sends_no_interaction_status(emulator):
    """Thrown: the same exchange on gemini-3.8-live. Survived: no interactionStatus, one turnComplete
    at the end (turnComplete means idle there), the call still before the preface."""
    turn = await _order_turn(emulator, "gemini-3.8-live")
    assert not [e for e in turn.events if e.startswith("status:")]
    assert turn.events.count("turn_complete") == 1 and turn.events[-1] == "turn_complete"
    assert turn.events.index("tool_call") < turn.events.index("audio")
