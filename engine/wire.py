"""Caller audio to Gemini as text on the session's own socket, without SDK models per batch.

The SDK's `send_realtime_input` validates a pydantic model, converts and JSON-encodes it for every
batch: 16.5 % of a daphne process at 30 calls (issue 16). For a PCM batch that message is a fixed
text around the base64 of the audio, so `AudioMessages` learns the text around it from the SDK
itself (one sample batch through the SDK's own method, once per API flavour) and checks it on a
second sample; if the SDK ever frames audio differently the check fails and every batch goes
through the SDK's method as before. Connection, auth and resumption stay the SDK's: only the
text handed to the session's websocket is built here.

`send_now` goes one step further for the common case, a plainly open connection: it writes the
batch's WebSocket frame (masked, RFC 6455 §5.3) straight to the connection's transport, from the
uplink's own call stack, so a batch costs no task wake-up and none of `Connection.send`'s context
manager (about a third of each send's CPU at 30 calls, issue 16). Masking keys come from
`os.urandom` 4 KB at a time, not a `getrandom()` system call per frame. Whenever the connection is
not plainly open (closing, writing paused by a full buffer, a fragmented send or an extension
negotiated, or a `websockets` whose connection lacks what is checked here), it returns False and the
batch goes through `send`, the library's own path.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable
from typing import Any

from google.genai import types
from google.genai.live import AsyncSession
from websockets.protocol import State
from websockets.speedups import apply_mask

log = logging.getLogger(__name__)

MIME = "audio/pcm;rate=16000"
_SAMPLES = (bytes(range(256)) * 2, b"\x01\x80" * 161)  # two lengths, every byte value
_ENCODERS = (base64.urlsafe_b64encode, base64.b64encode)  # the SDK 3.x uses the URL-safe alphabet
Frame = tuple[Callable[[bytes], bytes], str, str]  # (base64 encoder, text before, text after)
_frames: dict[tuple[bool, str], Frame | None] = {}  # per API flavour (vertexai or not) and MIME type


_KEY_POOL_BYTES = 4096  # masking keys drawn from os.urandom at a time (1024 frames)
_PLAIN_ATTRIBUTES = ("transport", "protocol", "send_in_progress", "paused")  # what send_now reads


class MaskKeys:
    """Four-byte masking keys from a strong source (RFC 6455 §5.3), one `os.urandom` call per 1024."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        if self._at + 4 > len(self._pool):
            self._pool, self._at = os.urandom(_KEY_POOL_BYTES), 0
        key = self._pool[self._at : self._at + 4]
        self._at += 4
        return key


_keys = MaskKeys()


def masked_text_frame(payload: bytes, key: bytes) -> bytes:
    """A final, masked text frame as a client sends it (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + apply_mask(payload, key)


class _Recorder:
    """Stands in for the websocket: keeps what the SDK would have sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)


async def sdk_text(api_client: Any, pcm: bytes, mime: str = MIME) -> str:
    """The exact text the SDK sends for one audio batch."""
    recorder = _Recorder()
    session = AsyncSession(api_client=api_client, websocket=recorder)  # type: ignore[arg-type]
    await session.send_realtime_input(audio=types.Blob(data=pcm, mime_type=mime))
    return recorder.sent[0]


async def _learn(api_client: Any, mime: str) -> Frame | None:
    first, second = _SAMPLES
    text = await sdk_text(api_client, first, mime)
    for encode in _ENCODERS:
        encoded = encode(first).decode("ascii")
        if text.count(encoded) == 1:
            before, after = text.split(encoded)
            check = before + encode(second).decode("ascii") + after
            if check == await sdk_text(api_client, second, mime):
                return encode, before, after
    return None


class AudioMessages:
    """Builds and sends one connection's caller-audio messages."""

    def __init__(self, session: Any, frame: Frame | None, mime: str = MIME) -> None:
        self.session = session
        self._frame = frame
        # The same text as bytes, for `send_now`: the base64 is ASCII bytes already, so the frame's
        # payload is built without decoding it to text and encoding the whole message back.
        self._frame_bytes = None if frame is None else (frame[0], frame[1].encode(), frame[2].encode())
        self._mime = mime
        ws = getattr(session, "_ws", None)
        self._ws = ws if all(hasattr(ws, name) for name in _PLAIN_ATTRIBUTES) else None

    @classmethod
    async def for_session(cls, session: Any, mime: str = MIME) -> AudioMessages:
        key = (bool(getattr(session._api_client, "vertexai", False)), mime)
        if key not in _frames:
            _frames[key] = await _learn(session._api_client, mime)
            if _frames[key] is None:
                log.warning("the SDK frames audio in a way not learnt: sending through its models")
        return cls(session, _frames[key], mime)

    def text(self, pcm: bytes) -> str | None:
        """The message for one batch, or None where the SDK's method must build it."""
        if self._frame is None:
            return None
        encode, before, after = self._frame
        return before + encode(pcm).decode("ascii") + after

    def send_now(self, pcm: bytes) -> bool:
        """Write the batch's frame to the socket now if the connection is plainly open (module
        docstring); False where `send` must send it."""
        ws, frame = self._ws, self._frame_bytes
        if ws is None or frame is None:
            return False
        protocol = ws.protocol
        if (
            protocol.state is not State.OPEN
            or protocol.expect_continuation_frame
            or protocol.extensions
            or ws.send_in_progress is not None
            or ws.paused
            or ws.transport.is_closing()
        ):
            return False
        encode, before, after = frame
        ws.transport.write(masked_text_frame(before + encode(pcm) + after, _keys.next()))
        return True

    async def send(self, pcm: bytes) -> None:
        text = self.text(pcm)
        if text is None:
            await self.session.send_realtime_input(audio=types.Blob(data=pcm, mime_type=self._mime))
        else:
            await self.session._ws.send(text)
