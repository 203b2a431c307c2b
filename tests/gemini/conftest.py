"""Fixtures for the Gemini emulator tests: a running emulator and a caller that speaks with flite."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from emulators.gemini import speech
from emulators.gemini.testing import RunningEmulator, start_in_thread

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
AUDIO_CONFIG: dict[str, Any] = {
    "response_modalities": ["AUDIO"],
    "input_audio_transcription": {},
    "output_audio_transcription": {},
}
CHUNK_MS = 40


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    emu = start_in_thread(profile="fast")
    yield emu
    emu.close()


def caller_audio(text: str, rate: int = 16000) -> bytes:
    """What a simulated caller says: flite speech as 16-bit PCM at `rate`."""
    return speech.flite_pcm(text, rate)


async def stream_speech(session: Any, text: str, *, rate: int = 16000, silence_s: float = 0.8) -> None:
    """Send caller speech in 40 ms chunks at about twice real time, then streamed silence."""
    pcm = caller_audio(text, rate) + b"\0" * int(rate * 2 * silence_s)
    step = rate * 2 * CHUNK_MS // 1000
    for i in range(0, len(pcm), step):
        await session.send_realtime_input(
            audio={"data": pcm[i : i + step], "mime_type": f"audio/pcm;rate={rate}"}
        )
        await asyncio.sleep(CHUNK_MS / 1000 / 2)


@dataclass
class Turn:
    """What a client saw during one receive() loop."""

    audio: bytes = b""
    audio_chunks: list[int] = field(default_factory=list)
    said: str = ""
    heard: str = ""
    events: list[str] = field(default_factory=list)
    tool_calls: list[Any] = field(default_factory=list)
    usage: Any = None
    go_away: Any = None
    handles: list[str] = field(default_factory=list)


async def collect_turn(session: Any, on_tool_call: Any = None, on_audio: Any = None) -> Turn:
    """Read one model turn (until turnComplete), recording everything a client would use."""
    turn = Turn()
    async for msg in session.receive():
        if msg.data:
            turn.audio += msg.data
            turn.audio_chunks.append(len(msg.data))
            turn.events.append("audio")
            if on_audio:
                await on_audio(turn)
        sc = msg.server_content
        if sc is not None:
            if sc.input_transcription and sc.input_transcription.text:
                turn.heard += sc.input_transcription.text
                turn.events.append("input_transcription")
            if sc.output_transcription and sc.output_transcription.text:
                turn.said += sc.output_transcription.text
            if sc.generation_complete:
                turn.events.append("generation_complete")
            if sc.interrupted:
                turn.events.append("interrupted")
            if sc.turn_complete:
                turn.events.append("turn_complete")
                turn.usage = msg.usage_metadata
            if sc.interaction_status:
                turn.events.append(f"status:{sc.interaction_status.value}")
        if msg.tool_call:
            turn.events.append("tool_call")
            turn.tool_calls += msg.tool_call.function_calls
            if on_tool_call:
                await on_tool_call(msg.tool_call)
        if msg.tool_call_cancellation:
            turn.events.append("tool_call_cancellation")
        if msg.go_away:
            turn.events.append("go_away")
            turn.go_away = msg.go_away
        if msg.session_resumption_update and msg.session_resumption_update.new_handle:
            turn.handles.append(msg.session_resumption_update.new_handle)
    return turn


def live_uri(emu: RunningEmulator, version: str = "v1beta", query: str = "") -> str:
    base = emu.base_url.replace("https://", "wss://")
    return f"{base}/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent{query}"


async def raw_connect(
    emu: RunningEmulator, *, key: str | None = "default", query: str = "", version: str = "v1beta"
):
    """A raw websockets client, for frames the SDK never sends (camelCase bodies, binary, std base64)."""
    headers = {} if key is None else {"x-goog-api-key": emu.api_key if key == "default" else key}
    return await websockets.connect(
        live_uri(emu, version, query), ssl=emu.ssl_context(), additional_headers=headers, max_size=None
    )


async def raw_close_of(ws: Any) -> tuple[int | None, str | None]:
    """Read until the server closes; return (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=20)
    except websockets.ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)


def b64(data: bytes, urlsafe: bool) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()


def dumps(obj: Any) -> str:
    return json.dumps(obj)
