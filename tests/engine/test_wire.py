"""engine.wire: the caller-audio message built without SDK models is the SDK's own, byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest
from google import genai
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from engine.wire import AudioMessages, sdk_text


def api_client(vertex: bool):
    if vertex:
        return genai.Client(vertexai=True, project="demo-project", location="us-central1")._api_client
    return genai.Client(api_key="test-key")._api_client


class FakeSession:
    """Only what AudioMessages reads of a live session: its API client and its socket."""

    def __init__(self, client) -> None:
        self._api_client = client
        self.sent: list[str] = []
        self._ws = self

    async def send(self, text: str) -> None:
        self.sent.append(text)


@pytest.mark.parametrize("vertex", [False, True], ids=["gemini-api", "vertex"])
async def test_audio_messages_equal_the_sdks_for_any_batch(vertex, monkeypatch):
    """Thrown at it: batches of 0, 1, 2, 320, 640 and 3,201 random bytes on both API flavours.
    Holds: every message sent on the socket is the text the SDK's send_realtime_input sends."""
    if vertex:
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project")
    client = api_client(vertex)
    session = FakeSession(client)
    messages = await AudioMessages.for_session(session)
    assert messages.text(b"\x00\x01") is not None, "the fast path was not learnt"
    for size in (0, 1, 2, 320, 640, 3201):
        pcm = os.urandom(size)
        await messages.send(pcm)
        assert session.sent[-1] == await sdk_text(client, pcm)


class Session:
    """A live session as AudioMessages reads it: the SDK's API client and a real websockets client."""

    def __init__(self, client, ws) -> None:
        self._api_client = client
        self._ws = ws


@contextlib.asynccontextmanager
async def socket_pair(compression: str | None = None):
    """A real WebSocket server that keeps every text it receives, and a client connected to it the way
    the SDK connects (websockets.asyncio.client)."""
    received: list[str] = []

    async def keep(connection) -> None:
        async for message in connection:
            received.append(message)

    async with serve(keep, "127.0.0.1", 0, compression=compression) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=compression) as ws:
            yield ws, received


async def test_send_now_writes_the_sdks_message_as_a_masked_frame():
    """Thrown at it: batches whose messages have 7-, 16- and 64-bit frame lengths, written straight to a
    real socket. Holds: the server (websockets, which closes 1002 on an unmasked or malformed client
    frame) receives each as the text the SDK sends, in order, and every frame had a different key."""
    client = api_client(False)
    sizes = (0, 30, 640, 50_000)  # base64 and JSON around it: < 126, < 65,536 and > 65,535 bytes
    pcms = [os.urandom(size) for size in sizes]
    async with socket_pair() as (ws, received):
        messages = await AudioMessages.for_session(Session(client, ws))
        keys = []
        written = []
        real_write = ws.transport.write
        ws.transport.write = lambda data: (written.append(data), real_write(data))[1]
        for pcm in pcms:
            assert messages.send_now(pcm) is True
        for frame in written:
            keys.append(frame[2 + {126: 2, 127: 8}.get(frame[1] & 0x7F, 0) :][:4])
        await ws.send("done")
        for _ in range(100):
            if len(received) == len(pcms) + 1:
                break
            await asyncio.sleep(0.02)
    assert received[:-1] == [await sdk_text(client, pcm) for pcm in pcms]
    assert len(set(keys)) == len(keys)


async def test_send_now_declines_when_the_connection_is_not_plainly_open():
    """Thrown at it: a connection with permessage-deflate negotiated, one whose writing is paused and
    one closed. Holds: send_now declines each (False) and writes nothing; on the deflate connection
    `send`, the library's path, still delivers the SDK's message."""
    client = api_client(False)
    pcm = os.urandom(320)
    async with socket_pair(compression="deflate") as (ws, received):
        messages = await AudioMessages.for_session(Session(client, ws))
        assert ws.protocol.extensions, "the server did not negotiate permessage-deflate"
        assert messages.send_now(pcm) is False
        await messages.send(pcm)
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert received == [await sdk_text(client, pcm)]
    async with socket_pair() as (ws, received):
        messages = await AudioMessages.for_session(Session(client, ws))
        ws.pause_writing()
        assert messages.send_now(pcm) is False
        ws.resume_writing()
        await ws.close()
        assert messages.send_now(pcm) is False
    assert received == []


async def test_speech_sent_with_send_now_is_heard_by_gemini(gemini):
    """Thrown at it: "hello" (flite, 16 kHz) and quiet, every 40 ms batch written with send_now on the
    project's own Gemini connection (agents.gemini_client: TLS, no permessage-deflate) to the emulator,
    a strict websockets server. Holds: each batch went the direct way, and the emulator recognised the
    words and answered them."""
    from agents.gemini_client import get_client
    from tests.gemini.conftest import AUDIO_CONFIG, MODEL, caller_audio, collect_turn

    pcm = caller_audio("hello") + bytes(16000 * 2)
    step = 16000 * 2 * 40 // 1000
    async with get_client().aio.live.connect(model=MODEL, config=AUDIO_CONFIG) as session:
        messages = await AudioMessages.for_session(session)

        async def speak() -> None:
            for i in range(0, len(pcm), step):
                assert messages.send_now(pcm[i : i + step]) is True
                await asyncio.sleep(0.02)

        sender = asyncio.create_task(speak())
        turn = await asyncio.wait_for(collect_turn(session), 20)
        await sender
    assert turn.heard == "hello"
    assert turn.said
