"""engine.model_audio: the model's audio read off the socket is what the SDK reads, and nothing else is."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest
from google import genai

from engine.model_audio import model_audio, sdk_audio


def client(vertex: bool):
    if vertex:
        return genai.Client(vertexai=True, project="demo-project", location="us-central1")._api_client
    return genai.Client(api_key="test-key")._api_client


def audio_message(*pieces: bytes, encode=base64.b64encode, indent: int | None = None, **extra) -> bytes:
    parts = [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": encode(p).decode()}} for p in pieces]
    return json.dumps({"serverContent": {"modelTurn": {"parts": parts}}, **extra}, indent=indent).encode()


@pytest.mark.parametrize("vertex", [False, True], ids=["gemini-api", "vertex"])
async def test_audio_only_messages_read_as_the_sdk_reads_them(vertex, monkeypatch):
    """Thrown at it: audio messages of 1 byte to 36 KB of random PCM, one and three parts, standard and
    URL-safe base64, compact and indented JSON, on both API flavours. Holds: the PCM pieces are the
    SDK's own, byte for byte."""
    if vertex:
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project")
    api = client(vertex)
    for size in (1, 2, 1920, 7681, 36480):
        pieces = [os.urandom(size)] if size != 1920 else [os.urandom(size) for _ in range(3)]
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            for indent in (None, 2):
                raw = audio_message(*pieces, encode=encode, indent=indent)
                assert model_audio(raw) == pieces == await sdk_audio(api, raw)


@pytest.mark.parametrize(
    "message",
    [
        {"serverContent": {"outputTranscription": {"text": "hello"}}},
        {"serverContent": {"turnComplete": True}, "usageMetadata": {"totalTokenCount": 3}},
        {"serverContent": {"modelTurn": {"parts": []}}},
        {"serverContent": {"modelTurn": {"parts": [{"text": "thinking"}]}}},
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}}},
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": 12}}]}}},
        {"toolCall": {"functionCalls": [{"id": "1", "name": "inlineData", "args": {}}]}},
    ],
    ids=["transcription", "turn-complete", "no-parts", "text-part", "image", "bad-data", "tool-call"],
)
def test_any_other_message_is_left_to_the_sdk(message):
    """Thrown at it: messages that are not audio alone. Holds: none is taken; the SDK parses each."""
    assert model_audio(json.dumps(message).encode()) is None


def test_audio_with_anything_beside_it_is_left_to_the_sdk():
    """Thrown at it: audio with usage, with a transcription in the same content, with an interrupted
    flag, and with a text part after it. Holds: none is taken, so nothing beside the audio is missed."""
    pcm = os.urandom(640)
    assert model_audio(audio_message(pcm)) == [pcm]
    assert model_audio(audio_message(pcm, usageMetadata={"totalTokenCount": 3})) is None
    for extra in ({"outputTranscription": {"text": "hi"}}, {"interrupted": True}):
        raw = json.loads(audio_message(pcm))
        raw["serverContent"].update(extra)
        assert model_audio(json.dumps(raw).encode()) is None
    raw = json.loads(audio_message(pcm))
    raw["serverContent"]["modelTurn"]["parts"].append({"text": "and words"})
    assert model_audio(json.dumps(raw).encode()) is None


async def reply_through_live_link(tapped: bool) -> tuple[list[bytes], list[str], int]:
    """One turn ("hello", then quiet) on a LiveLink to the emulator: the reply's audio pieces, the
    order in which audio and the other messages reached the call, and the pieces the SDK parsed."""
    from google.genai import types

    from agents.gemini_client import get_client
    from engine.live import LiveLink
    from tests.gemini.conftest import AUDIO_CONFIG, MODEL, caller_audio

    audio: list[bytes] = []
    events: list[str] = []
    done = asyncio.Event()
    parsed = 0

    def on_audio(pcm: bytes) -> None:
        audio.append(pcm)
        if events[-1:] != ["audio"]:
            events.append("audio")

    async def on_message(message: types.LiveServerMessage) -> None:
        nonlocal parsed
        if message.data:
            parsed += 1
            on_audio(message.data)
        content = message.server_content
        if content is not None and content.output_transcription and content.output_transcription.text:
            events.append("transcription")
        if content is not None and content.turn_complete:
            events.append("turn_complete")
            done.set()

    link = LiveLink(
        get_client(),
        MODEL,
        lambda handle: types.LiveConnectConfig(**AUDIO_CONFIG),
        on_message,
        on_audio=on_audio if tapped else None,
    )
    await link.open()
    runner = asyncio.create_task(link.run())
    pcm = caller_audio("hello") + bytes(16000 * 2)
    step = 16000 * 2 * 40 // 1000
    for i in range(0, len(pcm), step):
        await link.send_audio(pcm[i : i + step])
        await asyncio.sleep(0.01)
    await asyncio.wait_for(done.wait(), 20)
    await link.close()
    runner.cancel()
    return audio, events, parsed


async def test_a_reply_through_the_tap_is_the_reply_through_the_sdk(gemini):
    """Thrown at it: the same turn ("hello", flite) through the project's own Gemini connection to the
    emulator, once with the tap and once with every message parsed by the SDK. Holds: the call gets the
    same reply audio, byte for byte, and audio, transcriptions and the turn's end in the same order."""
    tapped_audio, tapped_events, parsed = await reply_through_live_link(tapped=True)
    sdk_audio_pieces, sdk_events, sdk_parsed = await reply_through_live_link(tapped=False)
    assert parsed == 0 and sdk_parsed == len(sdk_audio_pieces) > 0  # the tap took every audio message
    assert tapped_audio and b"".join(tapped_audio) == b"".join(sdk_audio_pieces)
    assert tapped_events == sdk_events
    assert tapped_events[-1] == "turn_complete" and "transcription" in tapped_events
