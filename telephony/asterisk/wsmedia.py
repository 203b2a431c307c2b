"""chan_websocket media (externalMedia transport=websocket), with this process dialling Asterisk.

Asterisk creates the leg in `connection_type=server` mode and returns a connection id; we connect
to `ws://<asterisk>/media/<id>` (subprotocol `media`). Binary messages are raw media in the
requested format both ways; text messages are control, plain-text (`EVENT k:v ...`) or JSON
(`{"event": ...}`) depending on `chan_websocket.conf`, and we answer in the format Asterisk used
for MEDIA_START. Asterisk queues what we send and plays it on its own 20 ms clock, so:
- flow control: MEDIA_XOFF (its queue is at 900 frames) pauses sending, frames wait here (bounded)
  until MEDIA_XON;
- barge-in: FLUSH_MEDIA drops what is queued on Asterisk, and our own backlog;
- marks (22.8 / 20.18 / 23.2+): MARK_MEDIA <name> comes back as MEDIA_MARK_PROCESSED when the
  audio before it is about to be heard; on older releases the engine uses its own clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable

import websockets

from telephony.guard import FrameGate

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 128  # chan_websocket ignores longer text commands
BACKLOG_FRAMES = 500  # 10 s of 20 ms frames held while Asterisk says XOFF
MAX_MESSAGE_BYTES = 16384
MAX_MESSAGE_RATE = 100.0
MESSAGE_BURST = 250.0


def parse_control(text: str) -> dict:
    """A control message as a dict with an `event` key, from either wire format."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return {"event": "", "raw": text}
        return data if isinstance(data, dict) else {"event": "", "raw": text}
    head, *rest = text.split()
    data: dict = {"event": head}
    for token in rest:
        key, sep, value = token.partition(":")
        if sep:
            data[key] = value
        else:
            data.setdefault("correlation_id", token)
    return data


class WebSocketMedia:
    """One media socket for one call."""

    def __init__(
        self,
        url: str,
        marks: bool,
        on_audio: Callable[[bytes], None],
        on_mark: Callable[[str], None] | None = None,
        on_dtmf: Callable[[str], None] | None = None,
        on_close: Callable[[str], None] | None = None,
        on_fault: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.marks = marks
        self.on_audio = on_audio
        self.on_mark = on_mark
        self.on_dtmf = on_dtmf
        self.on_close = on_close
        self.on_fault = on_fault  # handling a message raised: the owner ends the call as failed
        self.json_control = marks  # until MEDIA_START tells us
        self.optimal_frame_size = 0
        self.paused = False
        self.backlog: deque[bytes] = deque(maxlen=BACKLOG_FRAMES)
        self.started = asyncio.Event()
        self.xoff_count = 0
        self.dropped_while_paused = 0
        # Caps on what Asterisk may send us (telephony.guard): a 20 ms frame, 50 a second.
        self.gate = FrameGate(MAX_MESSAGE_BYTES, MAX_MESSAGE_RATE, MESSAGE_BURST)
        self._ws = None
        self._reader: asyncio.Task | None = None
        self.closed = False

    async def connect(self) -> None:
        self._ws = await websockets.connect(
            self.url, subprotocols=["media"], open_timeout=5, max_size=2**20, ping_interval=None
        )
        self._reader = asyncio.create_task(self._read(), name="ws-media-read")

    async def _read(self) -> None:
        reason = "media socket closed by Asterisk"
        failed = False
        try:
            async for message in self._ws:
                if self.gate.admit(len(message)) is not None:
                    continue  # a flood: dropped unread, counted in self.gate.dropped
                if isinstance(message, bytes):
                    self.on_audio(message)
                else:
                    self._control(parse_control(message), message.lstrip().startswith("{"))
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 - a bad message ends this call, never the process
            log.exception("ws media: handling a message failed; ending the call")
            reason, failed = f"media socket message failed: {type(exc).__name__}", True
        finally:
            was_closed = self.closed
            self.closed = True
            notify = self.on_fault if failed and self.on_fault else self.on_close
            if not was_closed and notify:
                notify(reason)

    def _control(self, message: dict, is_json: bool) -> None:
        event = message.get("event", "")
        if event == "MEDIA_START":
            self.json_control = is_json
            try:
                self.optimal_frame_size = int(message.get("optimal_frame_size") or 0)
            except ValueError:
                self.optimal_frame_size = 0
            self.started.set()
        elif event == "MEDIA_XOFF":
            self.paused = True
            self.xoff_count += 1
        elif event == "MEDIA_XON":
            self.paused = False
            asyncio.get_running_loop().create_task(self._drain_backlog())
        elif event == "MEDIA_MARK_PROCESSED":
            name = message.get("correlation_id", "")
            if name and self.on_mark:
                self.on_mark(name)
        elif event == "DTMF_END":
            if self.on_dtmf and message.get("digit"):
                self.on_dtmf(message["digit"])
        elif event == "ERROR":
            log.warning("ws media: Asterisk reports %s", message.get("error_text", message))

    async def _drain_backlog(self) -> None:
        while self.backlog and not self.paused and not self.closed:
            await self._ws.send(self.backlog.popleft())

    async def send_audio(self, payload: bytes) -> None:
        if self.closed or self._ws is None:
            return
        if self.paused or self.backlog:
            if len(self.backlog) == self.backlog.maxlen:
                self.dropped_while_paused += 1
            self.backlog.append(payload)
            if not self.paused:
                await self._drain_backlog()
            return
        try:
            await self._ws.send(payload)
        except websockets.ConnectionClosed:
            pass

    async def command(self, name: str, **args: str) -> None:
        if self.closed or self._ws is None:
            return
        if self.json_control:
            text = json.dumps({"command": name, **args}, separators=(",", ":"))
        else:
            text = " ".join([name, *args.values()])
        if len(text.encode()) > MAX_COMMAND_BYTES:
            log.warning("ws media: command %s longer than %d bytes, not sent", name, MAX_COMMAND_BYTES)
            return
        try:
            await self._ws.send(text)
        except websockets.ConnectionClosed:
            pass

    async def flush(self) -> None:
        self.backlog.clear()
        await self.command("FLUSH_MEDIA")

    async def mark(self, name: str) -> None:
        if self.marks:
            await self.command("MARK_MEDIA", correlation_id=name)

    async def close(self) -> None:
        self.closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
