"""One emulated Plivo call: the V3-signed answer webhook, Plivo XML, and the Audio Stream.

Toward the app it behaves as Plivo does (reference §1-§4, §8): form-encoded callbacks signed with
the `plivo` package's V3 helpers, a bidirectional `<Stream>` (the element text is the URL; the
content type defaults to L16, so u-law must be asked for), `start` then one `media` every 20 ms
(numeric sequence numbers), `playAudio` frames above the size limit refused with an
`incorrectPayload` error, `checkpoint` acknowledged by `playedStream` only when played (never
after `clearAudio`), no `stop`: a hangup closes the socket and posts the hangup callback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import websockets
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

from emulators.twilio.phone import FRAME_BYTES, CarrierPlayout, Handset, RealTimeClock

if TYPE_CHECKING:
    from .emulator import PlivoEmulator

log = logging.getLogger(__name__)

MULAW = "audio/x-mulaw;rate=8000"
DEFAULT_CONTENT_TYPE = "audio/x-l16;rate=8000"  # Plivo's default: not u-law


class PlivoCall:
    def __init__(
        self,
        emulator: PlivoEmulator,
        to: str,
        from_: str,
        direction: str = "inbound",
        answer_url: str = "",
        hangup_url: str = "",
    ) -> None:
        self.emulator = emulator
        self.uuid = str(uuid.uuid4())
        self.request_uuid = str(uuid.uuid4())
        self.to = to
        self.from_ = from_
        self.direction = direction
        self.answer_url = answer_url
        self.hangup_url = hangup_url
        self.status = "ringing" if direction == "inbound" else "in-progress"
        self.created = time.time()
        self.answered_at: float | None = None
        self.handset = Handset()
        self.playout = CarrierPlayout(marks_on_clear=False, jitter_ms=emulator.jitter_ms)
        self.max_frame_bytes = emulator.max_frame_bytes
        self.webhook_status: int | None = None
        self.xml = ""
        self.spoken: list[str] = []  # <Speak> texts
        self.dialed: list[str] = []
        self.errors: list[str] = []  # what the app did wrong, as Plivo would report it
        self.app_events: list[str] = []
        self.checkpoints_played: list[str] = []
        self.dtmf_sent: list[str] = []  # sendDTMF from the app
        self.callbacks: list[tuple[str, int]] = []  # (Event, HTTP status)
        self.close_code: int | None = None
        self.stream_id = ""
        self.extra_headers = ""
        self.stream_started = asyncio.Event()
        self.stream_ended = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.hangup_source = ""
        self.payload_sizes: list[int] | None = None
        self._ws = None
        self._seq = 0
        self._chunk = 0
        self._hangup = asyncio.Event()
        self._transfer: str | None = None  # aleg_url to fetch after the stream closes
        self._task: asyncio.Task | None = None
        self.clock: RealTimeClock | None = None
        self.outcome = "human"  # outbound: human, machine, busy, no-answer, failed (emulator.outcomes)
        self.machine_detection_url = ""  # asynchronous AMD result goes here (Machine=true|false)
        self.final_status = "completed"  # CallStatus of the hangup callback

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"plivo-call-{self.uuid}")

    async def answered(self, timeout: float = 10.0) -> None:
        stream = asyncio.ensure_future(self.stream_started.wait())
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({stream, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stream.cancel()
            ended.cancel()

    async def _run(self) -> None:
        try:
            if self.direction == "outbound" and self.outcome in ("busy", "no-answer", "failed"):
                self.final_status = self.outcome
                self.end_reason = f"callee {self.outcome}"
                self.hangup_source = "Callee"
                return
            if self.machine_detection_url:
                self._amd_task = asyncio.create_task(self._report_machine())
            document = await self._fetch_xml(self.answer_url, Event="StartApp")
            while document is not None:
                document = await self._execute(document)
        except Exception as exc:  # noqa: BLE001 - an emulated call ends, the emulator lives on
            log.exception("plivo emulator: call %s failed", self.uuid)
            self.errors.append(f"emulator: {exc}")
        finally:
            self.status = self.final_status
            self.end_reason = self.end_reason or "xml finished"
            self.handset.closed = True
            self.stream_ended.set()
            await self._hangup_callback()
            self.ended.set()

    # --- callbacks --------------------------------------------------------------------------------
    def params(self, **extra: str) -> dict[str, str]:
        data = {
            "CallUUID": self.uuid,
            "From": self.from_.lstrip("+"),  # Plivo sends numbers without the +
            "To": self.to.lstrip("+"),
            "Direction": self.direction,
            "CallStatus": self.status,
        }
        if self.direction == "outbound":
            data.update(RequestUUID=self.request_uuid, ALegUUID=self.uuid, ALegRequestUUID=self.request_uuid)
        data.update(extra)
        return data

    async def post_signed(self, url: str, data: dict[str, str]):
        """POST a form with the V3 signature headers, signed over the URL the app is configured with."""
        nonce = "".join(secrets.choice("0123456789") for _ in range(20))
        base = construct_post_url(self.emulator.signed_url(url), dict(data)).decode()
        signature = get_signature_v3(self.emulator.auth_token, base, nonce).decode()
        headers = {
            "X-Plivo-Signature-V3": signature,
            "X-Plivo-Signature-Ma-V3": signature,
            "X-Plivo-Signature-V3-Nonce": nonce,
        }
        return await self.emulator.http.post(url, data=data, headers=headers)

    async def _fetch_xml(self, url: str, **extra: str) -> str | None:
        response = await self.post_signed(url, self.params(**extra))
        self.webhook_status = response.status_code
        if response.status_code != 200:
            self.errors.append(f"answer_url answered HTTP {response.status_code}")
            self.end_reason = "application error (answer url)"
            self.hangup_source = "Error"
            return None
        self.xml = response.text
        return response.text

    async def _report_machine(self) -> None:
        """Asynchronous machine detection: the result arrives a moment after the answer."""
        await self.stream_started.wait()
        await asyncio.sleep(0.5)
        if self.ended.is_set():
            return
        machine = "true" if self.outcome == "machine" else "false"
        try:
            response = await self.post_signed(self.machine_detection_url, self.params(Machine=machine))
            self.callbacks.append(("MachineDetection", response.status_code))
        except Exception as exc:  # noqa: BLE001 - Plivo logs a failed callback and moves on
            self.callbacks.append(("MachineDetection", 0))
            log.warning("plivo emulator: machine detection callback failed: %s", exc)

    async def _hangup_callback(self) -> None:
        if not self.hangup_url:
            return
        duration = str(int(time.time() - (self.answered_at or self.created))) if self.answered_at else "0"
        cause = {
            "busy": ("USER_BUSY", "Busy Line", "3010"),
            "no-answer": ("NO_ANSWER", "No Answer", "3000"),
            "failed": ("UNALLOCATED_NUMBER", "Invalid Destination Address", "2000"),
        }.get(self.final_status, ("NORMAL_CLEARING", "Normal Hangup", "4000"))
        data = self.params(
            Event="Hangup",
            CallStatus=self.final_status,
            HangupCause=cause[0],
            HangupCauseName=cause[1],
            HangupCauseCode=cause[2],
            HangupSource=self.hangup_source or "Plivo",
            Duration=duration,
            BillDuration=duration,
        )
        try:
            response = await self.post_signed(self.hangup_url, data)
            self.callbacks.append(("Hangup", response.status_code))
        except Exception as exc:  # noqa: BLE001 - Plivo logs a failed callback and moves on
            self.callbacks.append(("Hangup", 0))
            log.warning("plivo emulator: hangup callback to %s failed: %s", self.hangup_url, exc)

    # --- Plivo XML --------------------------------------------------------------------------------
    async def _execute(self, document: str) -> str | None:
        try:
            root = ET.fromstring(document)
        except ET.ParseError as exc:
            self.errors.append(f"XML does not parse: {exc}")
            self.hangup_source = "Error"
            return None
        if root.tag != "Response":
            self.errors.append("root element is not <Response>")
            return None
        for element in root:
            if element.tag == "Speak":
                self.spoken.append((element.text or "").strip())
            elif element.tag == "Hangup":
                self.end_reason = "xml hangup"
                self.hangup_source = "Answer XML"
                return None
            elif element.tag == "Wait":
                await asyncio.sleep(min(float(element.get("length", "1")), 5.0))
            elif element.tag == "Dial":
                numbers = [(child.text or "").strip() for child in element]
                self.dialed.extend(numbers)
                self.end_reason = f"dialed {', '.join(numbers)}"
                return None
            elif element.tag == "Redirect":
                return await self._fetch_xml(urljoin(self.answer_url, (element.text or "").strip()))
            elif element.tag == "Stream":
                await self._stream(element)
                if self._transfer is not None:
                    url, self._transfer = self._transfer, None
                    self._hangup.clear()
                    return await self._fetch_xml(url)
                if self._hangup.is_set() or element.get("keepCallAlive") != "true":
                    return None
            else:
                self.errors.append(f"<{element.tag}> not emulated")
        return None

    # --- the Audio Stream -------------------------------------------------------------------------
    async def _stream(self, element: ET.Element) -> None:
        url = (element.text or "").strip()
        if element.get("bidirectional") != "true":
            self.errors.append("stream is not bidirectional: playAudio would be ignored")
        content_type = element.get("contentType", DEFAULT_CONTENT_TYPE)
        if content_type != MULAW:
            self.errors.append(f"stream contentType {content_type!r}: this emulator streams u-law only")
            self.end_reason = "unsupported content type"
            return
        self.extra_headers = element.get("extraHeaders", "")
        self.stream_id = str(uuid.uuid4())
        if self.status == "ringing":
            self.status = "in-progress"
        self.answered_at = self.answered_at or time.time()
        try:
            async with websockets.connect(url, open_timeout=10, max_size=2**20) as ws:
                self._ws = ws
                await self._send(
                    {
                        "event": "start",
                        "start": {
                            "callId": self.uuid,
                            "streamId": self.stream_id,
                            "accountId": self.emulator.auth_id,
                            "tracks": ["inbound"],
                            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
                        },
                        "extra_headers": self.extra_headers,
                    }
                )
                self.stream_started.set()
                reader = asyncio.create_task(self._read(ws))
                try:
                    await self._pump(ws, reader)
                finally:
                    reader.cancel()
                    self.close_code = ws.close_code if self.close_code is None else self.close_code
        except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
            self.errors.append(f"stream connect failed (DroppedStream): {exc}")
            self.end_reason = "stream connect failed"
        finally:
            self._ws = None
            self.handset.closed = True
            self.stream_ended.set()

    async def _pump(self, ws, reader: asyncio.Task) -> None:
        self.clock = RealTimeClock()
        while not reader.done():
            if self._hangup.is_set():
                await ws.close()  # Plivo sends no stop: the socket just closes
                return
            self._chunk += 1
            size = (
                self.payload_sizes[self._chunk % len(self.payload_sizes)]
                if self.payload_sizes
                else FRAME_BYTES
            )
            media = {
                "track": "inbound",
                "timestamp": str(int(time.time() * 1000)),
                "chunk": self._chunk,
                "payload": base64.b64encode(self.handset.next_frame(size)).decode(),
            }
            try:
                await self._send(
                    {
                        "event": "media",
                        "streamId": self.stream_id,
                        "media": media,
                        "extra_headers": self.extra_headers,
                    }
                )
            except websockets.ConnectionClosed:
                break
            played, checkpoints = self.playout.tick()
            self.handset.hear(played)
            for name in checkpoints:
                await self._played(name)
            await self.clock.wait()
        await asyncio.gather(reader, return_exceptions=True)
        if not self.end_reason:
            self.end_reason = "app closed the stream"
            self.hangup_source = "Callee"

    async def _send(self, message: dict) -> None:
        self._seq += 1
        message = {"event": message["event"], "sequenceNumber": self._seq, **message}
        await self._ws.send(json.dumps(message))

    async def _played(self, name: str) -> None:
        self.checkpoints_played.append(name)
        try:
            await self._send({"event": "playedStream", "streamId": self.stream_id, "name": name})
        except websockets.ConnectionClosed:
            pass

    async def _read(self, ws) -> None:
        try:
            async for message in ws:
                await self._on_app_message(message)
        except websockets.ConnectionClosed:
            pass
        self.close_code = ws.close_code

    async def _error(self, reason: str) -> None:
        """Plivo's error frame (shape as Plivo's own parser reads it; not in the public docs)."""
        self.errors.append(reason)
        try:
            await self._send({"event": "error", "streamId": self.stream_id, "reason": reason})
        except websockets.ConnectionClosed:
            pass

    async def _on_app_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await self._error("binary frame")
            return
        try:
            msg = json.loads(message)
            event = msg["event"]
        except (ValueError, KeyError, TypeError):
            await self._error("invalidJson")
            return
        self.app_events.append(event)
        if event == "playAudio":
            media = msg.get("media") if isinstance(msg.get("media"), dict) else {}
            if media.get("contentType") != "audio/x-mulaw" or media.get("sampleRate") != 8000:
                await self._error("incorrectPayload")  # seed 004: ';rate=' inside or no sampleRate
                return
            try:
                audio = base64.b64decode(media["payload"], validate=True)
            except (KeyError, TypeError, binascii.Error):
                await self._error("incorrectPayload")
                return
            if self.max_frame_bytes and len(audio) > self.max_frame_bytes:
                self.playout.stats.rejected += 1
                await self._error("incorrectPayload")  # not played: the caller hears a gap
                return
            self.playout.add_audio(audio, time.monotonic())
        elif event == "checkpoint":
            name = msg.get("name")
            if not name:
                await self._error("checkpoint without name")
                return
            for ready in self.playout.add_mark(str(name)):
                await self._played(ready)
        elif event == "clearAudio":
            self.playout.clear()  # dropped checkpoints are never acknowledged
            await self._send({"event": "clearedAudio", "streamId": self.stream_id})
        elif event == "sendDTMF":
            self.dtmf_sent.append(str(msg.get("dtmf", "")))
        else:
            await self._error(f"unknown event {event!r}")

    # --- what the caller (or the REST API) does ---------------------------------------------------
    async def say(self, text: str) -> float:
        return await self.handset.say(text)

    def play_pcm(self, pcm8k: bytes) -> float:
        return self.handset.queue_pcm(pcm8k)

    async def send_dtmf(self, digit: str) -> None:
        await self._send({"event": "dtmf", "streamId": self.stream_id, "dtmf": {"digit": digit}})

    async def send_raw(self, text: str | bytes) -> None:
        await self._ws.send(text)

    async def hangup(self, reason: str = "caller hung up") -> None:
        """The caller hangs up: the socket closes (no stop), then the hangup callback."""
        self.end_reason = self.end_reason or reason
        self.hangup_source = self.hangup_source or "Caller"
        self._hangup.set()
        await self.ended.wait()

    async def drop(self) -> None:
        self.end_reason = "socket dropped"
        self.hangup_source = "Error"
        if self._ws is not None:
            self._ws.transport.abort()
        await self.ended.wait()

    def end_by_api(self) -> None:
        self.end_reason = self.end_reason or "ended by REST API"
        self.hangup_source = self.hangup_source or "API Request"
        self._hangup.set()

    def transfer(self, aleg_url: str) -> None:
        self._transfer = aleg_url
        self._hangup.set()

    async def wait_until(self, predicate, timeout: float = 15.0, what: str = "condition") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"plivo call {self.uuid}: {what} not reached within {timeout} s")
            await asyncio.sleep(0.02)

    def to_json(self) -> dict:
        return {
            "call_uuid": self.uuid,
            "from_number": self.from_,
            "to_number": self.to,
            "call_direction": self.direction,
            "call_status": self.status,
            "hangup_source": self.hangup_source,
            "request_uuid": self.request_uuid,
        }
