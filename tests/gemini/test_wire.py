"""Wire tolerance: key spellings, base64 alphabets, frame types, paths and versions, key placement."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from google import genai
from google.genai import types

from .conftest import AUDIO_CONFIG, MODEL, b64, caller_audio, collect_turn, raw_connect, stream_speech

SNAKE_SETUP = {
    "model": f"models/{MODEL}",
    "generation_config": {
        "response_modalities": ["AUDIO"],
        "speech_config": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}},
    },
    "input_audio_transcription": {},
    "output_audio_transcription": {},
}
CAMEL_SETUP = {
    "model": f"models/{MODEL}",
    "generationConfig": {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
    },
    "inputAudioTranscription": {},
    "outputAudioTranscription": {},
    "realtimeInputConfig": {
        "automaticActivityDetection": {"silenceDurationMs": 300, "prefix_padding_ms": 20}
    },
}


async def _raw_turn(ws) -> tuple[list[bytes | str], str, str, int]:
    """Read server frames until turnComplete; return (frames, heard, said, audio bytes)."""
    frames: list[bytes | str] = []
    heard = said = ""
    audio = 0
    while True:
        frame = await asyncio.wait_for(ws.recv(), timeout=20)
        frames.append(frame)
        msg = json.loads(frame)
        sc = msg.get("serverContent", {})
        heard += sc.get("inputTranscription", {}).get("text", "")
        said += sc.get("outputTranscription", {}).get("text", "")
        for part in sc.get("modelTurn", {}).get("parts", []):
            audio += len(base64.b64decode(part["inlineData"]["data"]))
        if sc.get("turnComplete"):
            return frames, heard, said, audio


@pytest.mark.parametrize(
    ("setup", "audio_key", "urlsafe", "binary"),
    [
        (SNAKE_SETUP, "realtime_input", True, False),
        (CAMEL_SETUP, "realtimeInput", False, True),
        (SNAKE_SETUP, "realtimeInput", False, False),
        (CAMEL_SETUP, "realtime_input", True, True),
    ],
    ids=["snake-urlsafe-text", "camel-standard-binary", "snake-standard-text", "camel-urlsafe-binary"],
)
async def test_key_spellings_base64_alphabets_and_frame_types(emulator, setup, audio_key, urlsafe, binary):
    ws = await raw_connect(emulator)
    send = (lambda o: ws.send(json.dumps(o).encode())) if binary else (lambda o: ws.send(json.dumps(o)))
    await send({"setup": setup})
    first = await ws.recv()
    assert isinstance(first, bytes) and json.loads(first) == {"setupComplete": {}}
    pcm = caller_audio("hello") + b"\0" * 32000
    encoded_chars = set()
    for i in range(0, len(pcm), 1280):
        data = b64(pcm[i : i + 1280], urlsafe)
        encoded_chars |= set(data)
        blob = {
            "data": data,
            ("mime_type" if audio_key == "realtime_input" else "mimeType"): "audio/pcm;rate=16000",
        }
        await send({audio_key: {"audio": blob}})
    assert encoded_chars & (set("-_") if urlsafe else set("+/"))  # the alphabet really was exercised
    frames, heard, said, audio = await _raw_turn(ws)
    await ws.close()
    assert (heard, said) == ("hello", "Hello! How can I help you today?")
    assert audio > 0
    assert all(isinstance(f, bytes) for f in frames)  # the server sends binary frames only
    for frame in frames:
        keys = set(json.loads(frame))
        assert keys <= {"serverContent", "usageMetadata", "sessionResumptionUpdate", "toolCall", "goAway"}
    record = emulator.sessions[-1]
    assert set(record.frame_types) == {"binary" if binary else "text"}


async def test_sdk_sends_text_frames_with_mixed_case(emulator):
    async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        await session.send_realtime_input(text="hello")
        await collect_turn(session)
        # a raw camelCase frame through the SDK's own socket, in a binary frame
        await session._ws.send(json.dumps({"realtimeInput": {"text": "hello"}}).encode())
        assert (await collect_turn(session)).said == "Hello! How can I help you today?"
    record = emulator.sessions[-1]
    assert record.frame_types == ["text", "text", "binary"]
    assert record.setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert record.messages[0] == {"realtime_input": {"text": "hello"}}


async def test_media_chunks_audio_stream_end_and_query_key(emulator):
    ws = await raw_connect(emulator, key=None, query=f"?key={emulator.api_key}")
    await ws.send(json.dumps({"setup": CAMEL_SETUP}))
    await ws.recv()
    pcm = caller_audio("hello")
    for i in range(0, len(pcm), 3200):
        chunk = {"mimeType": "audio/pcm", "data": b64(pcm[i : i + 3200], False)}
        await ws.send(json.dumps({"realtimeInput": {"mediaChunks": [chunk]}}))
    await ws.send(json.dumps({"realtimeInput": {"audioStreamEnd": True}}))  # mic paused: ends the turn now
    _, heard, said, _ = await _raw_turn(ws)
    await ws.close()
    assert (heard, said) == ("hello", "Hello! How can I help you today?")


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
async def test_double_slash_path_and_versions(emulator, version):
    ctx = emulator.ssl_context()
    client = genai.Client(
        api_key=emulator.api_key,
        http_options=types.HttpOptions(
            base_url=emulator.base_url + "/", api_version=version, async_client_args={"ssl": ctx}
        ),
    )
    async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        await session.send_realtime_input(text='Say exactly: "Path accepted."')
        assert (await collect_turn(session)).said == "Path accepted."
    record = emulator.sessions[-1]
    assert record.path == f"//ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
    assert record.api_version == version
    assert record.headers["x-goog-api-key"] == emulator.api_key


async def test_ssl_cert_file_environment(emulator, monkeypatch):
    """The other documented way to trust the CA: SSL_CERT_FILE, read when the Client is built."""
    monkeypatch.setenv("SSL_CERT_FILE", emulator.ca_file)
    client = genai.Client(
        api_key=emulator.api_key, http_options=types.HttpOptions(base_url=emulator.base_url)
    )
    async with client.aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        await session.send_realtime_input(text="hello")
        assert (await collect_turn(session)).said == "Hello! How can I help you today?"
    assert emulator.sessions[-1].api_version == "v1"  # SDK 3.x default


async def test_sdk_audio_with_default_mime_and_speech(emulator):
    async with emulator.client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        sender = asyncio.create_task(stream_speech(session, "hello"))
        turn = await collect_turn(session)
        await sender
    assert turn.heard == "hello"
