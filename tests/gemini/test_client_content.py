"""Text clientContent turns per model, through the real SDK: 3.8 answers them all session long, 2.5
refuses a text-only turn, 3.1 takes them only as initial history (emulators/gemini/models.py)."""

from __future__ import annotations

import asyncio

import pytest
from google.genai import errors, types

from .conftest import AUDIO_CONFIG, MODEL, collect_turn, stream_speech

LIVE_38 = "gemini-3.8-live"
FLASH_31 = "gemini-3.1-flash-live-preview"


def _user(text: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=text)])


@pytest.mark.parametrize("model", [LIVE_38, "gemini-3.8-live-extended-thinking"])
async def test_3_8_answers_text_turns_all_session_long(emulator, model):
    async with emulator.client().aio.live.connect(model=model, config=AUDIO_CONFIG) as session:
        await session.send_client_content(turns=_user("hello"), turn_complete=True)
        greeting = await collect_turn(session)
        assert greeting.said == "Hello! How can I help you today?"
        assert len(greeting.audio) > 24000

        sender = asyncio.create_task(stream_speech(session, "thank you goodbye"))
        spoken = await collect_turn(session)  # a spoken turn in between
        await sender
        assert spoken.said == "Goodbye, and thank you for calling."

        # Context first, then the turn's end with no content of its own: the accumulated text is answered.
        await session.send_client_content(
            turns=_user("i need to know where is my order"), turn_complete=False
        )
        await session.send_client_content(turn_complete=True)
        later = await collect_turn(session)
        assert later.said == "Your order A12345 has shipped and should arrive tomorrow."
    record = emulator.sessions[-1]
    assert record.close_code in (None, 1000)
    assert ("user", "i need to know where is my order") in record.conversation.history
    assert record.conversation.turn == 3


async def test_2_5_refuses_a_text_only_turn(emulator):
    with pytest.raises(errors.APIError) as info:
        async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
            await session.send_client_content(turns=_user("hello"), turn_complete=True)
            await collect_turn(session)
    assert str(info.value) == "1007 None. Cannot extract voices from a non-audio request"


async def test_3_1_refuses_client_content_outside_initial_history(emulator):
    with pytest.raises(errors.APIError) as info:
        async with emulator.client().aio.live.connect(model=FLASH_31, config=AUDIO_CONFIG) as session:
            await session.send_client_content(turns=_user("hello"), turn_complete=True)
            await collect_turn(session)
    assert str(info.value) == "1007 None. Request contains an invalid argument."


async def test_3_1_takes_initial_history_then_refuses_more(emulator):
    config = {**AUDIO_CONFIG, "history_config": {"initial_history_in_client_content": True}}
    with pytest.raises(errors.APIError) as info:
        async with emulator.client().aio.live.connect(model=FLASH_31, config=config) as session:
            await session.send_client_content(
                turns=[
                    _user("The caller is Ada."),
                    types.Content(role="model", parts=[types.Part(text="Noted.")]),
                ],
                turn_complete=True,
            )
            await session.send_realtime_input(text="hello")
            turn = await collect_turn(session)
            assert turn.said == "Hello! How can I help you today?"  # the history itself was not answered
            await session.send_client_content(turns=_user("hello again"), turn_complete=True)
            await collect_turn(session)
    assert str(info.value) == "1007 None. Request contains an invalid argument."
    history = emulator.sessions[-1].conversation.history
    assert history[:2] == [("user", "The caller is Ada."), ("model", "Noted.")]
