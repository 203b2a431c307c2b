"""Every strict refusal: the close code and reason a client sees, through the SDK or a raw socket."""

from __future__ import annotations

import json

import pytest
from google import genai
from google.genai import errors, types

from .conftest import AUDIO_CONFIG, MODEL, collect_turn, raw_close_of, raw_connect

NOT_FOUND = (
    "models/gemini-2.0-flash-live-001 is not found for API version v1beta, or is not supported for "
    "bidiGenerateContent. Call Mod"
)


async def _sdk_refusal(client, model=MODEL, config=None) -> errors.APIError:
    with pytest.raises(errors.APIError) as info:
        async with client.aio.live.connect(model=model, config=config or AUDIO_CONFIG) as session:
            await collect_turn(session)
    return info.value


async def test_wrong_key(emulator):
    client = genai.Client(api_key="not-the-key", http_options=emulator.http_options())
    err = await _sdk_refusal(client)
    assert err.code == 1007
    assert str(err) == "1007 None. API key not valid. Please pass a valid API key."


async def test_missing_key(emulator):
    ws = await raw_connect(emulator, key=None)
    await ws.send(json.dumps({"setup": {"model": f"models/{MODEL}"}}))
    code, reason = await raw_close_of(ws)
    assert code == 1008
    assert reason.startswith(
        "Method doesn't allow unregistered callers (callers without established identity)."
    )
    assert len(reason.encode()) == 123


async def test_unknown_model(emulator):
    err = await _sdk_refusal(emulator.client(), model="gemini-2.0-flash-live-001")
    assert err.code == 1008
    assert NOT_FOUND in str(err)


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            {"generationConfig": {"responseModalities": ["AUDIO"], "bogusField": 1}},
            "Invalid JSON payload received. Unknown name \"bogusField\" at 'setup.generation_config': Cannot find field.",
        ),
        (
            {"generationConfig": {"inputAudioTranscription": {}}},
            'Invalid JSON payload received. Unknown name "inputAudioTranscription" at '
            "'setup.generation_config': Cannot find field.",
        ),
        (
            {"sessionResumption": {"transparent": True}},
            "Invalid JSON payload received. Unknown name \"transparent\" at 'setup.session_resumption': Cannot find field.",
        ),
        (
            {"safetySettings": []},
            "Invalid JSON payload received. Unknown name \"safetySettings\" at 'setup': Cannot find field.",
        ),
        (
            {"proactivity": {"proactiveAudio": True}},
            "Invalid JSON payload received. Unknown name \"proactivity\" at 'setup': Cannot find field.",
        ),
        (
            {
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {
                                    "type": "OBJECT",
                                    "properties": {},
                                    "additionalProperties": False,
                                },
                            }
                        ]
                    }
                ]
            },
            'Invalid JSON payload received. Unknown name "additionalProperties" at '
            "'setup.tools[0].function_declarations[0].parameters': Cannot find field.",
        ),
        (
            {"realtimeInputConfig": {"automatic_activity_detection": {"silenceMs": 5}}},
            'Invalid JSON payload received. Unknown name "silenceMs" at '
            "'setup.realtime_input_config.automatic_activity_detection': Cannot find field.",
        ),
    ],
)
async def test_unknown_setup_field(emulator, setup, reason):
    ws = await raw_connect(emulator)
    await ws.send(json.dumps({"setup": {"model": f"models/{MODEL}", **setup}}))
    assert await raw_close_of(ws) == (1007, reason[:123])


async def test_unknown_field_in_sdk_tool_schema(emulator):
    """Map values (properties) are checked too; the path names the map entry like the real service."""
    decl = {
        "name": "f",
        "parameters": {"type": "OBJECT", "properties": {"x": {"type": "STRING", "const": "a"}}},
    }
    ws = await raw_connect(emulator)
    await ws.send(
        json.dumps({"setup": {"model": f"models/{MODEL}", "tools": [{"function_declarations": [decl]}]}})
    )
    code, reason = await raw_close_of(ws)
    assert code == 1007
    full = (
        'Invalid JSON payload received. Unknown name "const" at '
        "'setup.tools[0].function_declarations[0].parameters.properties[0].value': Cannot find field."
    )
    assert reason == full.encode()[:123].decode()


async def test_proactivity_accepted_on_v1alpha(emulator):
    client = emulator.client(api_version="v1alpha")
    config = {**AUDIO_CONFIG, "proactivity": {"proactive_audio": True}}
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="hello")
        assert (await collect_turn(session)).said == "Hello! How can I help you today?"


async def test_second_setup(emulator):
    ws = await raw_connect(emulator)
    setup = json.dumps({"setup": {"model": f"models/{MODEL}"}})
    await ws.send(setup)
    assert json.loads(await ws.recv()) == {"setupComplete": {}}
    await ws.send(setup)
    assert await raw_close_of(ws) == (1007, "setup must be the first message and only the first")


async def test_content_before_setup(emulator):
    ws = await raw_connect(emulator)
    await ws.send(json.dumps({"realtimeInput": {"text": "hello"}}))
    assert await raw_close_of(ws) == (1007, "Request contains an invalid argument.")


@pytest.mark.parametrize("modalities", [[], ["AUDIO", "TEXT"]])
async def test_zero_or_two_modalities(emulator, modalities):
    ws = await raw_connect(emulator)
    await ws.send(
        json.dumps(
            {"setup": {"model": f"models/{MODEL}", "generationConfig": {"responseModalities": modalities}}}
        )
    )
    assert await raw_close_of(ws) == (1007, "Request contains an invalid argument.")


async def test_two_modalities_via_sdk(emulator):
    err = await _sdk_refusal(emulator.client(), config={"response_modalities": ["AUDIO", "TEXT"]})
    assert err.code == 1007


async def test_text_output_on_native_audio(emulator):
    err = await _sdk_refusal(emulator.client(), config={"response_modalities": ["TEXT"]})
    assert err.code == 1007
    assert str(err).endswith("Cannot extract voices from a non-audio request")


async def test_text_only_client_content(emulator):
    with pytest.raises(errors.APIError) as info:
        async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Greet the caller")]),
                turn_complete=True,
            )
            await collect_turn(session)
    assert info.value.code == 1007
    assert str(info.value).endswith("Cannot extract voices from a non-audio request")


async def test_client_content_without_turn_complete_is_context(emulator):
    async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="The caller is Ada.")]),
            turn_complete=False,
        )
        await session.send_realtime_input(text="hello")
        assert (await collect_turn(session)).said == "Hello! How can I help you today?"
    assert ("user", "The caller is Ada.") in emulator.sessions[-1].conversation.history


async def test_bogus_resumption_handle(emulator):
    config = {**AUDIO_CONFIG, "session_resumption": {"handle": "no-such-handle"}}
    err = await _sdk_refusal(emulator.client(), config=config)
    assert err.code == 1008
    assert str(err).endswith("BidiGenerateContent session not found")


async def test_empty_manual_activity(emulator):
    config = {**AUDIO_CONFIG, "realtime_input_config": {"automatic_activity_detection": {"disabled": True}}}
    async with emulator.client().aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(activity_start=types.ActivityStart())
        await session.send_realtime_input(activity_end=types.ActivityEnd())
        turn = await collect_turn(session)
        assert turn.events == ["turn_complete"]
        with pytest.raises(errors.APIError) as info:
            await collect_turn(session)
    assert info.value.code == 1007
    assert str(info.value).endswith("Precondition check failed.")


async def test_activity_start_with_automatic_detection(emulator):
    with pytest.raises(errors.APIError) as info:
        async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
            await session.send_realtime_input(activity_start=types.ActivityStart())
            await collect_turn(session)
    assert info.value.code == 1007
    assert "automatic activity detection is enabled" in str(info.value)


async def test_invalid_base64_and_non_audio_mime(emulator):
    ws = await raw_connect(emulator)
    await ws.send(json.dumps({"setup": {"model": f"models/{MODEL}"}}))
    await ws.recv()
    await ws.send(json.dumps({"realtimeInput": {"audio": {"mimeType": "audio/pcm", "data": "***"}}}))
    code, reason = await raw_close_of(ws)
    assert (code, reason.split(",")[0]) == (1007, "Invalid value at 'realtime_input.audio.data' (TYPE_BYTES)")
    ws = await raw_connect(emulator)
    await ws.send(json.dumps({"setup": {"model": f"models/{MODEL}"}}))
    await ws.recv()
    await ws.send(json.dumps({"realtimeInput": {"audio": {"mimeType": "image/jpeg", "data": "AAAA"}}}))
    assert await raw_close_of(ws) == (1007, "Request contains an invalid argument.")


async def test_not_json_and_two_fields(emulator):
    ws = await raw_connect(emulator)
    await ws.send("{not json")
    assert (await raw_close_of(ws))[0] == 1007
    ws = await raw_connect(emulator)
    await ws.send(json.dumps({"setup": {"model": f"models/{MODEL}"}}))
    await ws.recv()
    await ws.send(json.dumps({"realtimeInput": {"text": "a"}, "clientContent": {}}))
    code, reason = await raw_close_of(ws)
    assert code == 1007 and reason.startswith("Invalid JSON payload received.")


async def test_idle_socket_is_not_closed(emulator):
    """An open socket with nothing sent stays open (the real one lasted 12 s; we check 1 s)."""
    import asyncio

    ws = await raw_connect(emulator)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), timeout=1)
    await ws.close()
