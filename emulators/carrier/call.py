"""The caller-side call flow both carrier emulators share: the stream socket, the 20 ms pump, the caller.

A carrier subclass supplies only what differs on the wire: the hello messages, the media envelope,
how a reached mark is acknowledged, how the caller's hangup looks on the socket, how protocol errors
are reported, and the call's webhooks and document language (TwiML, Plivo XML).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, ClassVar

import websockets

from .phone import FRAME_BYTES, CarrierPlayout, Handset, RealTimeClock


class CarrierCall:
    carrier: ClassVar[str] = "carrier"  # "twilio", "plivo": task names, log and timeout messages
    log: ClassVar[logging.Logger] = logging.getLogger(__name__)
    sequence_type: ClassVar[type] = int  # sequenceNumber as sent: Twilio strings, Plivo numbers

    def __init__(self, emulator: Any, to: str, from_: str, direction: str, marks_on_clear: bool) -> None:
        self.emulator = emulator
        self.to = to
        self.from_ = from_
        self.direction = direction
        self.outcome = "human"  # outbound: human, machine, busy, no-answer, failed (emulator.outcomes)
        self.created = time.time()
        self.answered_at: float | None = None
        self.ended_at: float | None = None  # when the call ended (REST records: end_time, duration)
        self.handset = Handset()
        self.playout = CarrierPlayout(marks_on_clear=marks_on_clear, jitter_ms=emulator.jitter_ms)
        # What happened, for tests and the demo command.
        self.webhook_status: int | None = None
        self.dialed: list[str] = []  # <Dial> destinations
        self.errors: list[str] = []  # protocol violations by the app, as the carrier reports them
        self.app_events: list[str] = []  # event names the app sent, in order
        self.callbacks: list[tuple[str, int]] = []  # (status or event, HTTP status) of callbacks
        self.close_code: int | None = None  # close code when the app closed the stream
        self.stream_started = asyncio.Event()
        self.stream_ended = asyncio.Event()
        self.ended = asyncio.Event()  # call over and the final callback posted
        self.end_reason = ""
        # Caller payload sizes to cycle through (bad-input tests); None: 160-byte frames as carriers send.
        # True: no media messages while the caller says nothing (silence suppression, DTX).
        self.silence_suppression: bool = emulator.silence_suppression
        self.media_sent = 0  # caller media messages sent (fewer than 20 ms ticks when suppressing)
        self.payload_sizes: list[int] | None = None
        self.clock: RealTimeClock | None = None
        self._ws = None
        self._seq = 0
        self._chunk = 0
        self._hangup = asyncio.Event()  # the caller (or the REST API) wants the stream stopped
        self._task: asyncio.Task | None = None

    @property
    def call_id(self) -> str:
        raise NotImplementedError

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.carrier}-call-{self.call_id}")

    async def answered(self, timeout: float = 10.0) -> None:
        """Wait until the webhook answered and (if it asked for one) the stream started."""
        stream = asyncio.ensure_future(self.stream_started.wait())
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({stream, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stream.cancel()
            ended.cancel()

    async def _run(self) -> None:
        try:
            await self._flow()
        except Exception as exc:  # noqa: BLE001 - an emulated call ends, the emulator lives on
            self.log.exception("%s emulator: call %s failed", self.carrier, self.call_id)
            self.errors.append(f"emulator: {exc}")
        finally:
            self.ended_at = time.time()
            await self._finish()
            self.ended.set()

    async def _flow(self) -> None:
        """Ring, answer, run the app's documents until one ends the call."""
        raise NotImplementedError

    async def _finish(self) -> None:
        """Settle the final status and post the last callback."""
        raise NotImplementedError

    # --- the media stream -------------------------------------------------------------------------
    async def _connect(self, url: str) -> None:
        """Open the stream socket, greet the app, pump frames until the call or the socket ends."""
        try:
            headers = self._handshake_headers(url)  # signed over the public URL
            async with websockets.connect(
                self.emulator.reach_url(url), open_timeout=10, max_size=2**20, additional_headers=headers
            ) as ws:
                self._ws = ws
                await self._greet()
                self.stream_started.set()
                reader = asyncio.create_task(self._read(ws))
                try:
                    await self._pump(ws, reader)
                finally:
                    reader.cancel()
                    self.close_code = ws.close_code if self.close_code is None else self.close_code
        except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
            self._connect_failed(exc)
        finally:
            self._ws = None
            self.handset.closed = True
            self.stream_ended.set()

    def _handshake_headers(self, url: str) -> dict[str, str]:
        """Headers the carrier adds to the stream's upgrade request."""
        return {}

    async def _greet(self) -> None:
        """The carrier's first messages on a new stream (`connected`, `start`)."""
        raise NotImplementedError

    def _connect_failed(self, exc: Exception) -> None:
        raise NotImplementedError

    async def _pump(self, ws, reader: asyncio.Task) -> None:
        """Every 20 ms: send a caller frame, play one frame of app audio, acknowledge reached marks.

        With `silence_suppression` a silent caller's frames are not sent (they still count in
        `handset.said`, so its timeline stays continuous).
        """
        self.clock = RealTimeClock()
        self._stream_t0 = time.monotonic()
        while not reader.done():
            if self._hangup.is_set():
                await self._caller_stops(ws)
                return
            self._chunk += 1
            size = (
                self.payload_sizes[self._chunk % len(self.payload_sizes)]
                if self.payload_sizes
                else FRAME_BYTES
            )
            speaking = self.handset.speaking
            frame = self.handset.next_frame(size)
            try:
                if speaking or not self.silence_suppression:
                    await self._send(self._media_message(frame))
                    self.media_sent += 1
            except websockets.ConnectionClosed:
                break
            played, marks = self.playout.tick()
            self.handset.hear(played)
            for name in marks:
                await self._mark_reached(name)
            await self.clock.wait()
        await asyncio.gather(reader, return_exceptions=True)
        if not self.end_reason:
            self._app_closed()

    async def _caller_stops(self, ws) -> None:
        """The caller's hangup on the socket (Twilio sends `stop` first; Plivo just closes)."""
        await ws.close()

    def _media_message(self, frame: bytes) -> dict:
        raise NotImplementedError

    async def _mark_reached(self, name: str) -> None:
        raise NotImplementedError

    def _app_closed(self) -> None:
        self.end_reason = "app closed the stream"

    async def _send(self, message: dict, numbered: bool = True) -> None:
        if numbered:
            self._seq += 1
            message = {"event": message["event"], "sequenceNumber": self.sequence_type(self._seq), **message}
        await self._ws.send(json.dumps(message))

    async def _read(self, ws) -> None:
        try:
            async for message in ws:
                await self._on_app_message(message)
        except websockets.ConnectionClosed:
            pass
        self.close_code = ws.close_code

    async def _decode(self, message: str | bytes, binary_error: str, json_error: str) -> dict | None:
        """The app's message as JSON with an `event`, or None once the error is reported."""
        if isinstance(message, bytes):
            await self._protocol_error(binary_error)
            return None
        try:
            msg = json.loads(message)
            event = msg["event"]
        except (ValueError, KeyError, TypeError):
            await self._protocol_error(json_error)
            return None
        self.app_events.append(event)
        return msg

    async def _on_app_message(self, message: str | bytes) -> None:
        raise NotImplementedError

    async def _protocol_error(self, reason: str) -> None:
        self.errors.append(reason)

    # --- what the caller does ---------------------------------------------------------------------
    async def say(self, text: str) -> float:
        """Speak flite speech into the call (queued after anything still being said)."""
        return await self.handset.say(text)

    def play_pcm(self, pcm8k: bytes) -> float:
        return self.handset.queue_pcm(pcm8k)

    async def send_raw(self, text: str | bytes) -> None:
        """Send anything on the stream (bad-input tests)."""
        await self._ws.send(text)

    async def drop(self) -> None:
        """The network drops the socket: no goodbye, just gone."""
        self.end_reason = "socket dropped"
        if self._ws is not None:
            self._ws.transport.abort()
        await self.ended.wait()

    async def wait_until(self, predicate, timeout: float = 15.0, what: str = "condition") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"{self.carrier} call {self.call_id}: {what} not reached within {timeout} s"
                )
            await asyncio.sleep(0.02)
