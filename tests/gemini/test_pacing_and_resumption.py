"""Through the real SDK: the fast profile streams a reply no faster than real time, so a barge-in cuts
a reply that was not all sent; each resumption handle resumes the conversation as it stood when it was
issued."""

from __future__ import annotations

import asyncio
import time

from google.genai import types

from emulators.gemini.testing import start_in_thread

from .conftest import AUDIO_CONFIG, MODEL, collect_turn, stream_speech

STORY_START = "Of course."
PCM_PER_S = 24000 * 2


async def test_fast_profile_streams_a_reply_at_no_less_than_real_time(emulator):
    async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        await session.send_realtime_input(text="hello")
        first_audio: list[float] = []

        async def mark(turn):
            if not first_audio:
                first_audio.append(time.monotonic())

        turn = await collect_turn(session, on_audio=mark)
        took = time.monotonic() - first_audio[0]
    seconds = len(turn.audio) / PCM_PER_S
    assert seconds > 1.5
    # The last chunk goes out once the audio before it would have played (chunks are at most 0.76 s).
    assert took >= seconds - 0.8


async def test_barge_in_cuts_a_reply_not_all_sent_and_the_transcript_is_what_was_sent(emulator):
    async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        await session.send_realtime_input(text="can you tell me a long story")
        barge: list[asyncio.Task] = []

        async def interrupt_after_a_second(turn):
            if not barge and len(turn.audio) >= PCM_PER_S:
                barge.append(asyncio.create_task(stream_speech(session, "hello")))

        story = await collect_turn(session, on_audio=interrupt_after_a_second)
        await barge[0]
        answer = await collect_turn(session)
    assert story.events[-2:] == ["interrupted", "turn_complete"]
    assert "generation_complete" not in story.events
    full = emulator.sessions[-1].said[0]
    assert story.said.startswith(STORY_START)
    assert full.startswith(story.said) and len(story.said) < len(full) / 2
    assert len(story.audio) / PCM_PER_S < 15  # of a reply about 35 s long
    # What the model remembers saying is exactly what the caller was sent.
    assert ("model", story.said) in emulator.sessions[-1].conversation.history
    assert answer.said == "Hello! How can I help you today?"


async def _next_handle(session) -> str:
    """The next sessionResumptionUpdate's handle (it follows a turnComplete, outside receive())."""
    async with asyncio.timeout(20):
        while True:
            async for msg in session.receive():
                update = msg.session_resumption_update
                if update is not None and update.new_handle:
                    return update.new_handle


async def test_each_handle_resumes_the_conversation_as_it_stood_when_issued():
    scenario = {
        "turns": {"2": {"reply": "This is your second turn."}, "3": {"reply": "This is your third turn."}},
        "default_reply": "Okay.",
    }
    emu = start_in_thread(profile="fast", scenario=scenario)
    try:
        client = emu.client()
        config = {**AUDIO_CONFIG, "session_resumption": {}}
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_realtime_input(text="my name is Ada")
            assert (await collect_turn(session)).said == "Okay."
            older = await _next_handle(session)  # issued after the first turn
            await session.send_realtime_input(text="my account number is forty two")
            assert (await collect_turn(session)).said == "This is your second turn."
            newest = await _next_handle(session)  # issued after the second turn

        async def resume(handle: str) -> tuple[str, list[tuple[str, str]]]:
            resumed = types.LiveConnectConfig(
                response_modalities=["AUDIO"],
                output_audio_transcription={},
                session_resumption=types.SessionResumptionConfig(handle=handle),
            )
            async with client.aio.live.connect(model=MODEL, config=resumed) as session:
                await session.send_realtime_input(text="what do you know")
                said = (await collect_turn(session)).said
            return said, list(emu.sessions[-1].conversation.history)

        said, history = await resume(older)
        assert said == "This is your second turn."  # the older handle knows of one turn only
        assert ("user", "my name is Ada") in history
        assert ("user", "my account number is forty two") not in history

        said, history = await resume(newest)
        assert said == "This is your third turn."
        assert ("user", "my account number is forty two") in history
        assert ("user", "what do you know") in history

        said, history = await resume(older)  # resuming did not change what the older handle holds
        assert said == "This is your second turn."
        assert ("user", "my account number is forty two") not in history
    finally:
        emu.close()
