"""The engine's `MediaPort` for a browser test call: binary frames of 16-bit PCM at 16 kHz, JSON commands.

Messages to the browser: binary = one 20 ms frame of agent audio (PCM16 little-endian, mono,
16 kHz); text = JSON `{"type": "clear"}` (drop queued audio: barge-in), `{"type": "hangup",
"reason": ...}`, and `{"type": "transcript", ...}` / `{"type": "call", ...}` sent by the consumer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from engine.port import WireFormat

log = logging.getLogger(__name__)

WIRE = WireFormat("pcm", 16000)


class BrowserPort:
    """No marks: the browser plays what it gets, and a test call needs no playback confirmation."""

    wire = WIRE
    supports_marks = False

    def __init__(
        self, send_bytes: Callable[[bytes], Awaitable[None]], send_text: Callable[[str], Awaitable[None]]
    ):
        self._send_bytes = send_bytes
        self._send_text = send_text
        self.open = True  # False once the socket is gone: sends become no-ops
        self.hung_up = False

    async def send_json(self, message: dict[str, Any]) -> None:
        if self.open:
            await self._send_text(json.dumps(message))

    async def send_audio(self, payload: bytes) -> None:
        if self.open:
            await self._send_bytes(payload)

    async def clear(self) -> None:
        await self.send_json({"type": "clear"})

    async def mark(self, name: str) -> None:
        """Unused (supports_marks is False)."""

    async def hangup(self, reason: str) -> None:
        """Tell the page the call is over; the consumer closes the socket once the records are out."""
        if self.hung_up:
            return
        self.hung_up = True
        log.info("browser: hanging up (%s)", reason)
        await self.send_json({"type": "hangup", "reason": reason})

    async def transfer(self, destination: str) -> dict[str, Any]:
        return {"ok": False, "error": "transfers are not possible on a browser test call"}
