"""The model's audio read off the session's socket without the SDK's models for each message.

Most of what Gemini sends during a reply is audio: messages that hold nothing but
`serverContent.modelTurn.parts[].inlineData` (mime type, base64 PCM). For each one the SDK's receive
parses the JSON with the standard library, walks it twice in Python (its converter, then its
extra-field removal) and validates a pydantic `LiveServerMessage`, about 60-110 µs a message (issue 16).
`model_audio` validates just that shape straight from the JSON text in pydantic-core (Rust: parse and
base64 at once, with the same base64 rule as the SDK's models), so such a message costs a few µs.

`AudioTap` sits between the SDK's session and its websocket: its `recv` hands audio-only messages to
the call at once and returns everything else to the SDK, which parses it as before (tool calls,
transcriptions, turn and resumption updates, errors, closes). The call sees the messages in the order
they arrived, since the SDK asks for the next message only after the call handled the last. The shape
is checked against the SDK once per process (`agrees_with_sdk`); if the SDK ever reads it differently,
no tap is installed and every message goes through the SDK.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

from google.genai.live import AsyncSession
from pydantic import BaseModel, ConfigDict, ValidationError
from websockets.asyncio.connection import Connection

log = logging.getLogger(__name__)

_MARK = b'"inlineData"'  # every audio message has it; a message without it is not tried


class _Shape(BaseModel):
    # No other key allowed at any level: a message with anything else in it goes to the SDK.
    model_config = ConfigDict(extra="forbid", val_json_bytes="base64", strict=True)


class _InlineData(_Shape):
    mimeType: str  # noqa: N815 - the wire's names
    data: bytes


class _Part(_Shape):
    inlineData: _InlineData  # noqa: N815


class _ModelTurn(_Shape):
    parts: list[_Part]


class _ServerContent(_Shape):
    modelTurn: _ModelTurn  # noqa: N815


class _AudioMessage(_Shape):
    serverContent: _ServerContent  # noqa: N815


def model_audio(raw: bytes | str) -> list[bytes] | None:
    """The PCM pieces of a message that holds only model audio, in order; None for any other message."""
    if isinstance(raw, str):
        raw = raw.encode()
    if _MARK not in raw:
        return None
    try:
        parts = _AudioMessage.model_validate_json(raw).serverContent.modelTurn.parts
    except ValidationError:
        return None
    if not parts or not all(p.inlineData.mimeType.startswith("audio/pcm") for p in parts):
        return None
    return [p.inlineData.data for p in parts]


class _Replay:
    """Stands in for the websocket: gives the SDK one message to read."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    async def recv(self, decode: bool | None = None) -> bytes:
        return self.raw


async def sdk_audio(api_client: Any, raw: bytes) -> list[bytes]:
    """What the SDK reads as audio in one message: the data of its model turn's inline parts."""
    message = await AsyncSession(api_client=api_client, websocket=_Replay(raw))._receive()  # type: ignore[arg-type]
    content = message.server_content
    if content is None or content.model_turn is None:
        return []
    return [p.inline_data.data for p in content.model_turn.parts or [] if p.inline_data and p.inline_data.data]


def _samples() -> list[bytes]:
    pcm = bytes(range(256)) * 3 + b"\x7f"
    out = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": encode(pcm).decode()}}
        message = {"serverContent": {"modelTurn": {"parts": [part, part]}}}
        out.append(json.dumps(message, separators=(",", ":")).encode())
        out.append(json.dumps(message, indent=2).encode())
    return out


_agreed: dict[bool, bool] = {}  # per API flavour (vertexai or not)


async def agrees_with_sdk(api_client: Any) -> bool:
    """Whether `model_audio` reads the sample messages exactly as the SDK does (once per flavour)."""
    key = bool(getattr(api_client, "vertexai", False))
    if key not in _agreed:
        ok = True
        for raw in _samples():
            ours = model_audio(raw)
            if ours is None or ours != await sdk_audio(api_client, raw):
                ok = False
        _agreed[key] = ok
        if not ok:
            log.warning("the SDK reads model audio in a way not learnt: parsing every message with it")
    return _agreed[key]


class AudioTap:
    """The session's websocket as the SDK sees it, with audio-only messages taken out (module docstring)."""

    def __init__(self, ws: Connection, on_audio: Callable[[bytes], None]) -> None:
        self._ws = ws
        self._on_audio = on_audio

    @classmethod
    async def install(cls, session: Any, on_audio: Callable[[bytes], None]) -> bool:
        """Put a tap on `session`'s socket; False (nothing changed) where it cannot be done exactly."""
        ws = getattr(session, "_ws", None)
        if not isinstance(ws, Connection) or not await agrees_with_sdk(session._api_client):
            return False
        session._ws = cls(ws, on_audio)
        return True

    async def recv(self, decode: bool | None = None) -> bytes | str:
        while True:
            raw = await self._ws.recv(decode=False)
            pieces = model_audio(raw)
            if pieces is None:
                return raw if decode is False else raw.decode()
            try:
                for pcm in pieces:
                    self._on_audio(pcm)
            except TypeError as exc:  # the SDK takes a TypeError from recv for an old websockets: not this
                raise RuntimeError(f"handling the model's audio failed: {exc}") from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)
