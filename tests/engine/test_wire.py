"""engine.wire: the caller-audio message built without SDK models is the SDK's own, byte for byte."""

from __future__ import annotations

import os

import pytest
from google import genai

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
