"""Spoken conversations through the real google-genai SDK: transcripts both ways, barge-in, VAD modes."""

from __future__ import annotations

import asyncio

import numpy as np
from google.genai import types

from emulators.gemini.testing import start_in_thread

from .conftest import AUDIO_CONFIG, MODEL, caller_audio, collect_turn, stream_speech


async def test_greeting_and_two_spoken_turns(emulator):
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        await session.send_realtime_input(
            text='Greet the caller. Say exactly: "Hello, thanks for calling Example Corp."'
        )
        greeting = await collect_turn(session)
        assert greeting.said == "Hello, thanks for calling Example Corp."
        assert greeting.events[-2:] == ["generation_complete", "turn_complete"]
        assert len(greeting.audio) > 24000  # more than half a second of 24 kHz PCM16
        assert all(n % 1920 == 0 and 1920 <= n <= 36480 for n in greeting.audio_chunks)
        assert greeting.usage.total_token_count > greeting.usage.prompt_token_count > 0

        sender = asyncio.create_task(stream_speech(session, "hello"))
        first = await collect_turn(session)
        await sender
        assert first.heard == "hello"
        assert first.said == "Hello! How can I help you today?"
        assert first.events.index("input_transcription") < first.events.index("audio")

        sender = asyncio.create_task(stream_speech(session, "i would like to check the status of my order"))
        second = await collect_turn(session)
        await sender
        assert second.heard == "i would like to check the status of my order"
        # lookup_order was not declared by this session, so the scenario answers in words
        assert second.said == "Your order A12345 has shipped and should arrive tomorrow."
        assert second.tool_calls == []
    record = emulator.sessions[-1]
    assert record.heard == ["hello", "i would like to check the status of my order"]
    assert record.conversation.turn == 2


async def test_caller_audio_at_8khz_is_resampled_and_recognised(emulator):
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        sender = asyncio.create_task(stream_speech(session, "thank you goodbye", rate=8000))
        turn = await collect_turn(session)
        await sender
    assert turn.heard == "thank you goodbye"
    assert turn.said == "Goodbye, and thank you for calling."


async def test_barge_in_interrupts_the_reply():
    emu = start_in_thread(profile="fast", send_speed=8.0, hold_factor=1.0)
    try:
        client = emu.client()
        async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
            await session.send_realtime_input(text="can you tell me a long story")
            barge: list[asyncio.Task] = []

            async def interrupt_once(turn):
                if not barge:
                    barge.append(asyncio.create_task(stream_speech(session, "hello")))

            story = await collect_turn(session, on_audio=interrupt_once)
            after_interrupt = story.events[story.events.index("interrupted") + 1 :]
            assert after_interrupt == ["turn_complete"]
            assert "generation_complete" not in story.events
            assert len(story.audio) < 24000 * 2 * 20  # the story is much longer than what was played
            await barge[0]
            answer = await collect_turn(session)  # the interrupting speech is answered next
            assert answer.heard == "hello"
            assert answer.said == "Hello! How can I help you today?"
    finally:
        emu.close()


async def test_no_interruption_keeps_talking():
    emu = start_in_thread(profile="fast", send_speed=8.0)
    try:
        client = emu.client()
        config = {
            **AUDIO_CONFIG,
            "realtime_input_config": {"activity_handling": "NO_INTERRUPTION"},
        }
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_realtime_input(
                text='Say exactly: "Please hold while I look at your account details."'
            )
            talk: list[asyncio.Task] = []

            async def speak_over(turn):
                if not talk:
                    talk.append(asyncio.create_task(stream_speech(session, "hello")))

            reply = await collect_turn(session, on_audio=speak_over)
            assert "interrupted" not in reply.events
            assert reply.said == "Please hold while I look at your account details."
            await talk[0]
            answer = await collect_turn(session)
            assert answer.heard == "hello"
    finally:
        emu.close()


async def test_manual_activity_detection(emulator):
    client = emulator.client()
    config = {
        **AUDIO_CONFIG,
        "realtime_input_config": {"automatic_activity_detection": {"disabled": True}},
    }
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(activity_start=types.ActivityStart())
        pcm = caller_audio("hello")
        for i in range(0, len(pcm), 1280):
            await session.send_realtime_input(
                audio=types.Blob(data=pcm[i : i + 1280], mime_type="audio/pcm;rate=16000")
            )
        await session.send_realtime_input(activity_end=types.ActivityEnd())
        turn = await collect_turn(session)
    assert turn.heard == "hello"
    assert turn.said == "Hello! How can I help you today?"


async def test_vad_settings_are_honoured(emulator):
    """Low start sensitivity, padding and a long silence still yield one turn for one utterance."""
    client = emulator.client()
    config = {
        **AUDIO_CONFIG,
        "realtime_input_config": {
            "automatic_activity_detection": {
                "start_of_speech_sensitivity": "START_SENSITIVITY_LOW",
                "end_of_speech_sensitivity": "END_SENSITIVITY_LOW",
                "prefix_padding_ms": 100,
                "silence_duration_ms": 500,
            }
        },
    }
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        sender = asyncio.create_task(stream_speech(session, "hello", silence_s=1.0))
        turn = await collect_turn(session)
        await sender
    assert turn.heard == "hello"
    assert emulator.sessions[-1].heard == ["hello"]


async def test_turn_ends_on_received_silence_or_stream_end_never_on_wall_clock(emulator):
    """Thrown at it: an utterance (flite's ~200 ms tail, under the 300 ms end-of-turn silence) and then
    no audio at all for 2 s; later another utterance followed by `audioStreamEnd`. Survives, as the real
    service does (reference §5): no turn while nothing arrives, the turn once 0.5 s of silence is
    received, and the second turn at `audioStreamEnd` with no silence streamed."""
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        turn = asyncio.create_task(collect_turn(session))
        await stream_speech(session, "hello", silence_s=0.0)
        await asyncio.sleep(2.0)
        assert not turn.done() and emulator.sessions[-1].heard == []
        silence = b"\0" * 1280  # 40 ms at 16 kHz
        for _ in range(13):
            await session.send_realtime_input(audio={"data": silence, "mime_type": "audio/pcm;rate=16000"})
        assert (await asyncio.wait_for(turn, 10)).heard == "hello"

        turn = asyncio.create_task(collect_turn(session))
        await stream_speech(session, "thank you goodbye", silence_s=0.0)
        await asyncio.sleep(1.0)
        assert not turn.done()
        await session.send_realtime_input(audio_stream_end=True)
        assert (await asyncio.wait_for(turn, 10)).heard == "thank you goodbye"


async def test_an_8khz_callers_turn_ends_when_its_silence_arrives(emulator):
    """Thrown at it: a phone line's 8 kHz audio, the end-of-turn silence (300 ms) plus one 20 ms message
    and then nothing. Survives: the turn ends and is answered, as it is at 16 kHz: upsampling to the
    detector's 16 kHz holds nothing back (soxr's stream held up to 104 ms, so a caller's turn could end,
    and a barge-in start, that much later than the audio said)."""
    from emulators.gemini.vad import START

    speech = caller_audio("hello", 8000)
    threshold_db = START["START_SENSITIVITY_HIGH"][0]
    frames = np.frombuffer(speech[: len(speech) // 320 * 320], dtype="<i2").astype(float).reshape(-1, 160)
    loud = 20 * np.log10(np.sqrt((frames * frames).mean(axis=1)) / 32768 + 1e-9) > threshold_db
    quiet_tail = len(loud) - 1 - int(np.flatnonzero(loud)[-1])  # quiet 20 ms frames the speech ends with
    silence_frames = 300 // 20 - quiet_tail + 1
    pcm = speech[: len(loud) * 320] + bytes(320 * silence_frames)
    client = emulator.client()
    async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        turn = asyncio.create_task(collect_turn(session))
        for i in range(0, len(pcm), 320):
            await session.send_realtime_input(
                audio={"data": pcm[i : i + 320], "mime_type": "audio/pcm;rate=8000"}
            )
        answered = await asyncio.wait_for(turn, 5)
    assert answered.heard == "hello"
