"""Tool calls, goAway and resumption, faults, quotas and generateContent through the real SDK."""

from __future__ import annotations

import asyncio

import pytest
from google import genai
from google.genai import errors, types

from emulators.gemini.testing import start_in_thread

from .conftest import AUDIO_CONFIG, CHUNK_MS, MODEL, caller_audio, collect_turn, stream_speech

TOOLS = [
    types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="end_call",
                description="Hang up",
                parameters=types.Schema(
                    type="OBJECT", properties={"reason": types.Schema(type="STRING")}, required=["reason"]
                ),
            ),
            types.FunctionDeclaration(
                name="lookup_order",
                description="Find an order",
                parameters=types.Schema(type="OBJECT", properties={"order_id": types.Schema(type="STRING")}),
            ),
        ]
    )
]


async def test_tool_call_round_trip(emulator):
    client = emulator.client()
    config = types.LiveConnectConfig(
        response_modalities=["AUDIO"],
        tools=TOOLS,
        output_audio_transcription=types.AudioTranscriptionConfig(),
        input_audio_transcription=types.AudioTranscriptionConfig(),
    )
    async with client.aio.live.connect(model=MODEL, config=config) as session:

        async def answer(tool_call):
            await session.send_tool_response(
                function_responses=[
                    types.FunctionResponse(id=fc.id, name=fc.name, response={"status": "shipped"})
                    for fc in tool_call.function_calls
                ]
            )

        await session.send_realtime_input(text="i would like to check the status of my order")
        order = await collect_turn(session, on_tool_call=answer)
        assert [(c.name, c.args) for c in order.tool_calls] == [("lookup_order", {"order_id": "A12345"})]
        assert (
            order.said
            == "Let me check that for you.Thanks for waiting. Your order has shipped and should arrive tomorrow."
        )
        assert order.events.index("tool_call") < order.events.index("generation_complete")

        sender = asyncio.create_task(stream_speech(session, "thank you goodbye"))
        bye = await collect_turn(session, on_tool_call=answer)
        await sender
        assert bye.heard == "thank you goodbye"
        assert [(c.name, c.args) for c in bye.tool_calls] == [("end_call", {"reason": "caller said goodbye"})]
        assert bye.said == "Goodbye, and thank you for calling."
    record = emulator.sessions[-1]
    assert [r["name"] for r in record.tool_responses] == ["lookup_order", "end_call"]


async def test_barge_in_cancels_pending_tool_call(emulator):
    client = emulator.client()
    config = types.LiveConnectConfig(response_modalities=["AUDIO"], tools=TOOLS)
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        interrupted: list[asyncio.Task] = []

        async def ignore_and_talk(tool_call):
            interrupted.append(asyncio.create_task(stream_speech(session, "hello")))

        await session.send_realtime_input(text="where is my order")
        turn = await collect_turn(session, on_tool_call=ignore_and_talk)
        assert turn.events[-3:] == ["tool_call_cancellation", "interrupted", "turn_complete"]
        await interrupted[0]
        nxt = await collect_turn(session)
        assert nxt.events[-1] == "turn_complete"


async def test_goaway_then_resumption_keeps_context():
    scenario = {
        "turns": {"2": {"reply": "This is your second turn."}},
        "keywords": [{"keywords": ["hello"], "reply": "Hello there."}],
        "default_reply": "Okay.",
    }
    emu = start_in_thread(profile="fast", scenario=scenario)
    try:
        emu.faults.goaway_after_s = 0.3
        emu.faults.goaway_time_left_s = 10
        client = emu.client()
        config = {**AUDIO_CONFIG, "session_resumption": {}}
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_realtime_input(text="hello")
            first = await collect_turn(session)
            assert first.said == "Hello there."
            handles = list(first.handles)
            goaway = first.go_away  # may arrive during the first turn or after it
            while goaway is None:
                turn = await asyncio.wait_for(_next_message(session), timeout=10)
                if turn.session_resumption_update and turn.session_resumption_update.new_handle:
                    handles.append(turn.session_resumption_update.new_handle)
                goaway = turn.go_away
            assert goaway.time_left is not None
        assert handles
        emu.faults.goaway_after_s = None
        resumed = {**AUDIO_CONFIG, "session_resumption": {"handle": handles[-1]}}
        async with client.aio.live.connect(model=MODEL, config=resumed) as session:
            await session.send_realtime_input(text="and now")
            second = await collect_turn(session)
        assert second.said == "This is your second turn."
        assert emu.sessions[-1].resumed_from == handles[-1]
        # The conversation as that handle held it (goAway may come before the reply was all sent).
        assert emu.sessions[-1].conversation.history[0] == ("user", "hello")
    finally:
        emu.close()


async def _next_message(session):
    async for msg in session.receive():
        return msg


async def test_client_ignoring_goaway_is_closed():
    emu = start_in_thread(profile="fast")
    try:
        emu.faults.goaway_after_s = 0.1
        emu.faults.goaway_time_left_s = 0.3
        with pytest.raises(errors.APIError) as info:
            async with emu.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
                while True:
                    await collect_turn(session)
        assert info.value.code == 1008
        assert (
            "Connection aborted because the client failed to close the connection after receiving a GoAway"
            in str(info.value)
        )
    finally:
        emu.close()


async def test_refuse_resumption_once_then_succeed(emulator):
    client = emulator.client()
    async with client.aio.live.connect(
        model=MODEL, config={**AUDIO_CONFIG, "session_resumption": {}}
    ) as session:
        await session.send_realtime_input(text="hello")
        turn = await collect_turn(session)
    handle = turn.handles[-1]
    emulator.faults.refuse_resumption_once = True
    config = {**AUDIO_CONFIG, "session_resumption": {"handle": handle}}
    with pytest.raises(errors.APIError) as info:
        async with client.aio.live.connect(model=MODEL, config=config):
            pass
    assert (info.value.code, "Internal error encountered." in str(info.value)) == (1011, True)
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="hello")
        again = await collect_turn(session)
    assert again.said == "Hello! How can I help you today?"


async def test_drop_mid_turn_fault(emulator):
    client = emulator.client()
    emulator.faults.drop_mid_turn = True
    with pytest.raises(errors.APIError) as info:
        async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
            await session.send_realtime_input(text="hello")  # halfway through any reply
            await collect_turn(session)
    assert info.value.code == 1006
    assert emulator.faults.drop_mid_turn is False


async def test_first_audio_delay_fault_still_answers(emulator):
    emulator.faults.first_audio_delay_s = 0.2
    try:
        async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
            await session.send_realtime_input(text="hello")
            turn = await collect_turn(session)
        assert turn.said == "Hello! How can I help you today?"
    finally:
        emulator.faults.first_audio_delay_s = 0.0


async def test_quota_exceeded():
    emu = start_in_thread(profile="fast", max_sessions=1)
    try:
        client = emu.client()
        async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG):
            with pytest.raises(errors.APIError) as info:
                async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG):
                    pass
        assert info.value.code == 1011
        assert "You exceeded your current quota, please check your plan and billing details" in str(
            info.value
        )
        async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG):
            pass  # the slot is free again once the first session closed
    finally:
        emu.close()


async def test_generate_content_async_and_sync(emulator):
    client = emulator.client()
    transcript = "Caller: I would like to check the status of my order.\nAgent: It has shipped."
    reply = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=transcript)
    assert (
        reply.text == "Summary: Caller: I would like to check the status of my order. Agent: It has shipped."
    )
    assert reply.usage_metadata.total_token_count > 0
    again = client.models.generate_content(model="gemini-2.5-flash", contents=transcript)
    assert again.text == reply.text
    as_json = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=transcript,
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    assert as_json.text.startswith('{"summary": "Summary: Caller:')


async def test_generate_content_errors(emulator):
    bad = genai.Client(api_key="wrong", http_options=emulator.http_options())
    with pytest.raises(errors.ClientError) as info:
        await bad.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert info.value.code == 400 and "API key not valid" in str(info.value)
    with pytest.raises(errors.ClientError) as info:
        await emulator.client().aio.models.generate_content(model="gemini-0-nothing", contents="hi")
    assert info.value.code == 404


async def _next_update(session) -> types.LiveServerSessionResumptionUpdate:
    while True:
        message = await asyncio.wait_for(_next_message(session), timeout=10)
        if message.session_resumption_update is not None:
            return message.session_resumption_update


async def test_resumption_update_reports_the_last_consumed_client_message(emulator):
    """Thrown: silence, a text the model answers, then half an utterance the model has not finished
    hearing, through the real SDK. Survived: `lastConsumedClientMessageIndex` (setup = message 0)
    counts the silence and the answered text but not the half utterance; a session resumed from that
    handle that is sent the unconsumed messages again, then the rest, hears the whole utterance."""
    client = emulator.client()
    step = 16000 * 2 * CHUNK_MS // 1000
    silence = bytes(step)
    speech = caller_audio("i would like to check the status of my order")
    half = [speech[i : i + step] for i in range(0, len(speech) // 2, step)]
    rest = [speech[i : i + step] for i in range(len(half) * step, len(speech), step)] + [silence] * 20
    mime = "audio/pcm;rate=16000"
    async with client.aio.live.connect(
        model=MODEL, config={**AUDIO_CONFIG, "session_resumption": {}}
    ) as session:
        update = await _next_update(session)
        assert update.last_consumed_client_message_index == 0  # only the setup so far
        for _ in range(5):  # messages 1-5
            await session.send_realtime_input(audio={"data": silence, "mime_type": mime})
        await session.send_realtime_input(text='Say exactly: "One moment."')  # message 6
        update = await _next_update(session)
        assert update.last_consumed_client_message_index == 6
        sent: list[bytes] = []
        for chunk in half:  # messages 7 .. 6 + len(half)
            await session.send_realtime_input(audio={"data": chunk, "mime_type": mime})
            sent.append(chunk)
            await asyncio.sleep(CHUNK_MS / 1000 / 2)
        await session.send_realtime_input(text='Say exactly: "Still here."')
        update = await _next_update(session)
        consumed = update.last_consumed_client_message_index
        assert 6 <= consumed < 6 + len(half), consumed  # the utterance under way is not consumed
        handle = update.new_handle
    unconsumed = sent[consumed - 6 :]
    resumed = {**AUDIO_CONFIG, "session_resumption": {"handle": handle}}
    async with client.aio.live.connect(model=MODEL, config=resumed) as session:
        for chunk in unconsumed + rest:
            await session.send_realtime_input(audio={"data": chunk, "mime_type": mime})
            await asyncio.sleep(CHUNK_MS / 1000 / 2)
        turn = await collect_turn(session)
        while "order" not in turn.said.lower():  # "Still here." may come first
            turn = await collect_turn(session)
    assert emulator.sessions[-1].heard == ["i would like to check the status of my order"]
