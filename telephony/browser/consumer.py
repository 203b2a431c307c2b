"""The browser test-call WebSocket: microphone PCM -> engine, engine -> speaker PCM and JSON.

Signed-in staff only (session auth on this route). The call starts when the socket opens, routed
straight to the agent in the URL (carrier "browser" has no numbers). Binary messages from the page
are 16-bit PCM at 16 kHz, any length; text messages are JSON: `{"type": "hangup"}` and
`{"type": "dtmf", "digit": "5"}`. Anything else is logged and ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from django.conf import settings

import engine
from agents.models import Agent, Carrier
from contactcenter.logging import current_call_id
from engine.port import CallRequest
from telephony.guard import FrameGate, RateLimitedWarnings
from telephony.sockets import MediaSocketConsumer

from .port import BrowserPort

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_BAD_FRAME = 4400  # handling a message failed: this call is over
MAX_AUDIO_MESSAGE = 32_000  # 1 s of PCM16 at 16 kHz; the page sends 20 ms frames
TRANSCRIPT_POLL_SECONDS = 0.2
DTMF_DIGITS = set("0123456789*#ABCD")
# Daphne kills a consumer 10 s after the client left; store the call well before that.
END_GRACE_SECONDS = 8.0


def _agent_name(agent_id: int) -> str:
    return Agent.objects.filter(pk=agent_id).values_list("name", flat=True).first() or f"agent {agent_id}"


def _is_staff(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


class BrowserCallConsumer(MediaSocketConsumer):
    async def connect(self) -> None:
        self.handle = None
        self.port: BrowserPort | None = None
        self._tasks: list[asyncio.Task] = []
        self._sent: set[tuple[str, int]] = set()
        self._carry = b""
        # Size and rate caps before any handling (telephony.guard); the page sends 50 frames a second.
        self.gate = FrameGate(MAX_AUDIO_MESSAGE, settings.STREAM_MAX_FRAME_RATE, settings.STREAM_FRAME_BURST)
        self.warnings = RateLimitedWarnings(log)
        user = self.scope.get("user")
        if not _is_staff(user):
            log.warning("browser: test call refused: not signed in as staff")
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        agent_id = int(self.scope["url_route"]["kwargs"]["agent_id"])
        self.port = BrowserPort(self._send_bytes, self._send_text)
        request = CallRequest(
            carrier=Carrier.BROWSER,
            from_number=user.get_username(),
            to_number=await database_sync_to_async(_agent_name)(agent_id),
            variables={"agent_id": agent_id},
        )
        self.handle = await engine.start_call(request, self.port)
        current_call_id.set(str(self.handle.call_id))
        log.info("browser: %s started a test call with %s", request.from_number, request.to_number)
        await self.port.send_json(
            {
                "type": "call",
                "call_id": str(self.handle.call_id),
                "accepted": self.handle.accepted,
                "agent": request.to_number,
                "rate": self.port.wire.rate,
            }
        )
        self._tasks = [
            asyncio.create_task(self._relay_transcript()),
            asyncio.create_task(self._close_when_done()),
        ]

    async def _send_bytes(self, payload: bytes) -> None:
        await self.send(bytes_data=payload)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.handle is None or self.port is None or not self.port.open:
            return
        size = len(bytes_data) if bytes_data is not None else len(text_data or "")
        dropped = self.gate.admit(size)
        if dropped is not None:
            self.handle.count_dropped()
            self.warnings.warn(dropped, "browser: message dropped, %s (%d bytes)", dropped, size)
            return
        try:
            if bytes_data is not None:
                self._audio(bytes_data)
            elif text_data is not None:
                self._command(text_data)
        except Exception as exc:  # noqa: BLE001 - one message ends its own call, never the consumer
            await self._fail(exc)

    async def _fail(self, exc: Exception) -> None:
        """Handling one message raised (10,000 nested `[` make json.loads raise RecursionError): end
        this call as failed, stored so, and close its socket; the page is told why."""
        reason = f"bad message from the browser: {type(exc).__name__}"
        log.error("browser: %s; ending the call", reason, exc_info=exc)
        self.port.open = False  # the engine must not play into a socket we are closing
        self.handle.remote_hangup(reason, failed=True)
        await self.close(code=CLOSE_BAD_FRAME)

    def _audio(self, data: bytes) -> None:
        data = self._carry + data
        cut = len(data) - len(data) % 2  # whole 16-bit samples only; keep an odd byte for the next one
        self._carry = data[cut:]
        if cut:
            self.handle.push_audio(data[:cut])

    def _command(self, text: str) -> None:
        try:
            message = json.loads(text)
            kind = message.get("type") if isinstance(message, dict) else None
        except ValueError:
            message, kind = None, None
        if kind == "hangup":
            log.info("browser: caller hung up")
            self.handle.remote_hangup("caller hung up")
        elif kind == "dtmf" and str(message.get("digit", "")) in DTMF_DIGITS:
            self.handle.push_dtmf(str(message["digit"]))
        else:
            log.warning("browser: unexpected message ignored: %.80r", text)

    async def _send_new_segments(self) -> None:
        for seg in list(self.handle.transcript.segments):
            key = (seg["speaker"], seg["start_ms"])
            if key not in self._sent:
                self._sent.add(key)
                await self.port.send_json({"type": "transcript", **seg})

    async def _relay_transcript(self) -> None:
        """The engine keeps the transcript; finished turns are forwarded to the page as they close."""
        while True:
            await self._send_new_segments()
            await asyncio.sleep(TRANSCRIPT_POLL_SECONDS)

    async def _close_when_done(self) -> None:
        await self.handle.wait()
        self._tasks[0].cancel()
        if self.port.open:
            await self._send_new_segments()
            await self.port.send_json({"type": "ended", "call_id": str(self.handle.call_id)})
            self.port.open = False
            await self.close(code=1000)

    def abandon(self) -> None:
        port, handle = getattr(self, "port", None), getattr(self, "handle", None)
        if port is not None and port.open and handle is not None:
            log.warning("browser: consumer ended before its call: ending the call")
            port.open = False
            handle.remote_hangup("browser closed")

    async def disconnect(self, code: int) -> None:
        if self.port is None:
            return
        if self.port.open:
            self.port.open = False
            log.info("browser: socket closed (code %s): ending the call", code)
            if self.handle is not None:
                self.handle.remote_hangup("browser closed")
        if len(self._tasks) > 1:
            try:
                await asyncio.wait_for(asyncio.shield(self._tasks[1]), END_GRACE_SECONDS)
            except TimeoutError:
                log.warning(
                    "browser: call did not finish within %.0f s of the socket closing", END_GRACE_SECONDS
                )
        for task in self._tasks:
            task.cancel()
