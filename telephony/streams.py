"""What the carriers' media-stream WebSockets (Twilio Media Streams, Plivo Audio Streams) share.

Each carrier package subclasses `CarrierStreamConsumer` with its serializer and port; this class
holds the flow they have in common: accept, refuse every frame until `start` presents the call's
single-use media token, issued for this carrier (close 4403 otherwise), start the engine, forward
media / DTMF / marks, and end the call when the carrier stops the stream or the socket goes away.

Fault containment: every frame first passes the stream's `FrameGate` (size and rate caps, checked
before any parsing), and any exception while handling one frame ends only that call: logged once,
the engine call ended and stored as failed, the socket closed. Without this a single odd frame
(10,000 nested `[` make `json.loads` raise RecursionError) killed the consumer with "Exception
inside application", `disconnect` never ran and the call was left live with no socket.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

import engine
from contactcenter.logging import current_call_id
from engine import store
from engine.port import CallRequest
from telephony import media_token
from telephony.guard import FrameGate, RateLimitedWarnings
from telephony.sockets import MediaSocketConsumer

log = logging.getLogger(__name__)

CLOSE_BAD_TOKEN = 4403
CLOSE_BAD_FRAME = 4400  # handling a frame failed: this call is over (servers may send 1000 or 3000-4999)
END_GRACE_SECONDS = 8.0  # daphne kills a consumer 10 s after the client left: store the call before


class CarrierStreamConsumer(MediaSocketConsumer):
    carrier: str = ""
    mark_event = "mark"  # the inbound event that confirms playback of a mark
    closed_reason = "stream closed"  # end reason when the socket closes without a stop event
    close_is_hangup = False  # True where the carrier has no stop event (a close is the normal end)

    # --- what a carrier provides -----------------------------------------------------------------
    def make_serializer(self) -> Any:
        raise NotImplementedError

    def make_port(self) -> Any:
        raise NotImplementedError

    def token_of(self, event: Any) -> str | None:
        """The media token the `start` event carries."""
        raise NotImplementedError

    def ids_of(self, event: Any) -> tuple[str, str]:
        """(stream id, carrier call id) of a `start` event, for logs and the Call."""
        raise NotImplementedError

    def handshake_ok(self) -> bool:
        """Whether the upgrade request itself may be accepted (Twilio: its signature, when sent)."""
        return True

    # --- the shared flow -------------------------------------------------------------------------
    async def connect(self) -> None:
        self.serializer = self.make_serializer()
        self.port = None
        self.handle = None
        self.rejected = False
        self._ender: asyncio.Task | None = None
        self._call_id = None  # the Call this stream claimed with its token
        self._failing: asyncio.Future | None = None  # `_fail` of a frame taken inline (receive_now)
        self.gate = FrameGate(
            settings.STREAM_MAX_FRAME_BYTES, settings.STREAM_MAX_FRAME_RATE, settings.STREAM_FRAME_BURST
        )
        self.warnings = RateLimitedWarnings(log)
        if not self.handshake_ok():
            self.rejected = True
            await self.close()  # before accept: the upgrade is answered 403
            return
        await self.accept()  # the carrier needs the 101 before it sends `start`

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.rejected:
            return
        try:
            await self._receive(text_data, bytes_data)
        except Exception as exc:  # noqa: BLE001 - one frame ends its own call, never the consumer
            await self._fail(exc)

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        event = self._admit(text_data, bytes_data)
        if event is None:
            return
        if event.kind == "start":
            await self._start(event)
        else:
            self._apply(event)

    def receive_now(self, text: str) -> bool:
        """A text frame taken in the server's read callback (`MediaSocketConsumer.take_inline`), once
        the call has started: media, DTMF, marks and stop need no await. False sends a `start` the
        usual way; a frame whose handling raised ends the call as in `receive` (`_fail`, in a task)."""
        if self.rejected:
            return True  # as `receive`: nothing of this socket is looked at any more
        try:
            event = self._admit(text, None)
            if event is not None:
                if event.kind == "start":
                    return False
                self._apply(event)
        except Exception as exc:  # noqa: BLE001 - one frame ends its own call, never the consumer
            self.rejected = True
            self._failing = asyncio.ensure_future(self._fail(exc))
        return True

    def _admit(self, text_data: str | None, bytes_data: bytes | None) -> Any:
        """The frame's event, or None where it is dropped: over the gate's caps, binary, malformed."""
        # len() of the text counts characters: bytes for the ASCII JSON carriers send.
        size = len(text_data) if text_data is not None else len(bytes_data or b"")
        dropped = self.gate.admit(size)
        if dropped is not None:
            if self.handle is not None:
                self.handle.count_dropped()
            self.warnings.warn(
                dropped, "%s: frame dropped, %s (%d bytes; caps %d bytes, %g frames/s)",
                self.carrier, dropped, size, self.gate.max_bytes, self.gate.rate,
            )  # fmt: skip
            return None
        if text_data is None:
            self.warnings.warn(
                "binary", "%s: binary frame ignored (the carrier sends JSON text only)", self.carrier
            )
            return None
        try:
            return self.serializer.parse(text_data)
        except ValueError as exc:  # the serializers' FrameError
            self.warnings.warn("malformed", "%s: malformed frame ignored: %s", self.carrier, exc)
            return None

    def _apply(self, event: Any) -> None:
        """Everything but `start`: handed to the call, which never awaits for it."""
        if self.handle is None:
            if event.kind == "media":
                self.warnings.warn("early media", "%s: media before a valid start dropped", self.carrier)
        elif event.kind == "media":
            self.handle.push_audio(event.payload)
        elif event.kind == "dtmf":
            self.handle.push_dtmf(event.digit)
        elif event.kind == self.mark_event:
            self.handle.mark_played(event.name)
        elif event.kind == "stop":
            log.info("%s: stream stopped by the carrier (caller hung up or call moved)", self.carrier)
            self.port.remote_ended = True
            self.handle.remote_hangup("caller hung up")

    async def _fail(self, exc: Exception) -> None:
        """Handling one frame raised: end this call as failed and close its socket; nothing else."""
        self.rejected = True  # later frames of this socket are not looked at
        reason = f"bad frame from carrier: {type(exc).__name__}"
        log.error("%s: %s; ending the call", self.carrier, reason, exc_info=exc)
        try:
            if self.handle is not None:
                if self.port is not None:
                    self.port.open = False  # we close the socket below; the engine must not play into it
                    self.port.remote_ended = True
                self.handle.remote_hangup(reason, failed=True)
            elif self._call_id is not None:  # the token was taken but the engine never started
                await store.mark_failed(self._call_id, reason)
        finally:
            await self.close(code=CLOSE_BAD_FRAME)

    async def _start(self, event: Any) -> None:
        if self.handle is not None:
            log.warning("%s: second start on one stream ignored", self.carrier)
            return
        stream_id, carrier_call_id = self.ids_of(event)
        call = await database_sync_to_async(media_token.consume)(self.token_of(event), self.carrier)
        if call is None:
            self.rejected = True
            log.warning(
                "%s: stream %s for call %s refused: missing, unknown or reused media token, or one"
                " issued for another carrier (close %d)",
                self.carrier, stream_id, carrier_call_id, CLOSE_BAD_TOKEN,
            )  # fmt: skip
            await self.close(code=CLOSE_BAD_TOKEN)
            return
        self._call_id = call.id
        current_call_id.set(str(call.id))
        self.port = self.make_port()
        request = CallRequest(
            carrier=self.carrier,
            direction=call.direction,
            from_number=call.from_number,
            to_number=call.to_number,
            carrier_call_id=carrier_call_id or call.carrier_call_id,
            call_id=call.id,
            variables=call.variables or {},
        )
        log.info("%s: stream %s attached to call %s", self.carrier, stream_id, call.id)
        self.handle = await engine.start_call(request, self.port)
        self._ender = asyncio.create_task(self._close_when_done())
        self.take_inline(self.receive_now)  # from here on no frame needs an await (receive_now)

    async def send_text(self, text: str) -> None:
        """One message to the carrier: the ASGI send itself, as `send(text_data=...)` ends in, without
        its two coroutine hops for each of the up to 50 frames a second a call plays."""
        await self.base_send({"type": "websocket.send", "text": text})

    async def close_socket(self) -> None:
        await self.close(code=1000)

    async def _close_when_done(self) -> None:
        await self.handle.wait()
        if self.port and self.port.open:
            self.port.open = False
            await self.close(code=1000)

    def abandon(self) -> None:
        handle = getattr(self, "handle", None)
        port = getattr(self, "port", None)
        if handle is not None and port is not None and port.open:
            log.warning("%s: consumer ended before its call: ending the call", self.carrier)
            port.open = False
            port.remote_ended = True
            handle.remote_hangup(self.closed_reason)

    async def disconnect(self, code: int) -> None:
        if self.gate.dropped:
            log.warning(
                "%s: stream closed after dropping %s frames (%d warning lines held back)",
                self.carrier,
                ", ".join(f"{count} {kind}" for kind, count in self.gate.dropped.items()),
                sum(self.warnings.held_back.values()),
            )
        if self.port:
            was_open = self.port.open
            self.port.open = False
            if was_open and not self.port.remote_ended:
                log.log(
                    logging.INFO if self.close_is_hangup else logging.WARNING,
                    "%s: stream socket closed without stop (code %s): ending the call", self.carrier, code,
                )  # fmt: skip
                self.port.remote_ended = True
                self.handle.remote_hangup(self.closed_reason)
        if self._ender is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._ender), END_GRACE_SECONDS)
            except TimeoutError:
                log.warning(
                    "%s: call did not finish within %.0f s of the socket closing",
                    self.carrier,
                    END_GRACE_SECONDS,
                )
