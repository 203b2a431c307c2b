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
import contextlib
import logging
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import websockets
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

from emulators.carrier import dialled_person
from emulators.carrier.call import CarrierCall

from .records import cdr_json, hangup_cause, live_json

if TYPE_CHECKING:
    from .emulator import PlivoEmulator

log = logging.getLogger(__name__)

MULAW = "audio/x-mulaw;rate=8000"
DEFAULT_CONTENT_TYPE = "audio/x-l16;rate=8000"  # Plivo's default: not u-law


class PlivoCall(CarrierCall):
    carrier = "plivo"
    log = log
    sequence_type = int

    def __init__(
        self,
        emulator: PlivoEmulator,
        to: str,
        from_: str,
        direction: str = "inbound",
        answer_url: str = "",
        hangup_url: str = "",
    ) -> None:
        super().__init__(emulator, to, from_, direction, marks_on_clear=False)
        self.uuid = str(uuid.uuid4())
        self.request_uuid = str(uuid.uuid4())
        self.answer_url = answer_url
        self.hangup_url = hangup_url
        self.status = "ringing" if direction == "inbound" else "in-progress"
        self.max_frame_bytes = emulator.max_frame_bytes
        self.xml = ""
        self.spoken: list[str] = []  # <Speak> texts
        self.checkpoints_played: list[str] = []
        self.dtmf_sent: list[str] = []  # sendDTMF from the app
        self.stream_id = ""
        self.extra_headers = ""
        self.hangup_source = ""
        self._transfer: str | None = None  # aleg_url to fetch after the stream closes
        self.machine_detection_url = ""  # asynchronous AMD result goes here (Machine=true|false)
        self.final_status = "completed"  # CallStatus of the hangup callback
        self.ring_timeout = 0.0  # outbound: seconds to ring before no-answer (REST `ring_timeout`)
        self.digits_pressed: list[str] = []  # what the callee keyed into <GetDigits>
        self.conference = ""  # the <Conference> room the call is in (emulator.conferences)

    @property
    def call_id(self) -> str:
        return self.uuid

    # --- lifecycle --------------------------------------------------------------------------------
    async def _flow(self) -> None:
        if self.direction == "outbound" and self.outcome == "no-answer" and self.ring_timeout:
            # Rings until `ring_timeout` (capped at 2 s here, so tests need not wait the full time).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hangup.wait(), min(self.ring_timeout, 2.0))
        if self.direction == "outbound" and self.outcome in ("busy", "no-answer", "failed"):
            self.final_status = self.outcome
            self.end_reason = f"callee {self.outcome}"
            self.hangup_source = "Callee"
            return
        if self.machine_detection_url:
            self._amd_task = asyncio.create_task(self._report_machine())
        document = await self._fetch_xml(self.answer_url, Event="StartApp")
        if document is not None:
            self.answered_at = self.answered_at or time.time()
        while document is not None:
            document = await self._execute(document)

    async def _finish(self) -> None:
        self.status = self.final_status
        self.end_reason = self.end_reason or "xml finished"
        self.handset.closed = True
        self.stream_ended.set()
        await self._hangup_callback()

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
        return await self.emulator.http.post(self.emulator.reach_url(url), data=data, headers=headers)

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
        cause = hangup_cause(self.final_status)
        data = self.params(
            Event="Hangup",
            CallStatus=self.final_status,
            HangupCause=cause[0],
            HangupCauseName=cause[1],
            HangupCauseCode=str(cause[2]),
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hangup.wait(), min(float(element.get("length", "1")), 5.0))
                if self._hangup.is_set():
                    return await self._interrupted()
            elif element.tag == "Dial":
                numbers = [(child.text or "").strip() for child in element]
                self.dialed.extend(numbers)
                self.end_reason = f"dialed {', '.join(numbers)}"
                return None
            elif element.tag == "GetDigits":
                document = await self._get_digits(element)
                if document is not None:
                    return document
                if self._hangup.is_set():
                    return await self._interrupted()
            elif element.tag == "Conference":
                await self._conference(element)
                return await self._interrupted()
            elif element.tag == "Redirect":
                return await self._fetch_xml(urljoin(self.answer_url, (element.text or "").strip()))
            elif element.tag == "Stream":
                await self._stream(element)
                if self._transfer is not None or self._hangup.is_set():
                    return await self._interrupted()
                if element.get("keepCallAlive") != "true":
                    return None
            else:
                self.errors.append(f"<{element.tag}> not emulated")
        return None

    async def _get_digits(self, element: ET.Element) -> str | None:
        """Play the nested <Speak>s, then the callee keys (a warm transfer's person: by their
        destination, emulators/carrier/dialled_person.py); with a key the action URL's XML runs next.
        No key: the element times out and the document goes on."""
        for child in element:
            if child.tag == "Speak":
                self.spoken.append((child.text or "").strip())
            elif child.tag not in ("Play", "Wait"):
                self.errors.append(f"<{child.tag}> inside <GetDigits>")
        # The callee listens to what was spoken before keying (2.5 words a second; at most 3 s here).
        words = sum(len(text.split()) for text in self.spoken)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hangup.wait(), min(words / 2.5, 3.0))
        if self._hangup.is_set():
            return None
        action = element.get("action", "")
        if not action:
            self.errors.append("<GetDigits> without action")
        digit = dialled_person.digit(self.to) if self.direction == "outbound" else None
        valid = element.get("validDigits", "1234567890*#")
        if digit is None or digit not in valid or not action:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hangup.wait(), min(float(element.get("timeout", "5")), 2.0))
            return None
        self.digits_pressed.append(digit)
        return await self._fetch_xml(urljoin(self.answer_url, action), Digits=digit)

    async def _conference(self, element: ET.Element) -> None:
        """Join the room until this call is hung up or transferred; with endConferenceOnExit the
        room's other members are hung up when this one leaves (as Plivo ends the conference)."""
        room = (element.text or "").strip()
        if not room:
            self.errors.append("<Conference> without a room name")
            return
        self.conference = room
        members = self.emulator.conferences.setdefault(room, [])
        members.append(self)
        self.emulator.conference_log.append((room, self.uuid))
        try:
            await self._hangup.wait()
        finally:
            members.remove(self)
            self.conference = ""
        if element.get("endConferenceOnExit") == "true":
            for other in list(members):
                other.end_by_api()

    async def _interrupted(self) -> str | None:
        """The REST API transferred the call (the aleg_url's XML to run) or hung it up (None)."""
        if self._transfer is None:
            return None
        url, self._transfer = self._transfer, None
        self._hangup.clear()
        return await self._fetch_xml(url)

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
        await self._connect(url)

    async def _greet(self) -> None:
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

    def _connect_failed(self, exc: Exception) -> None:
        self.errors.append(f"stream connect failed (DroppedStream): {exc}")
        self.end_reason = "stream connect failed"

    # Plivo sends no stop: the caller's hangup just closes the socket (CarrierCall._caller_stops).

    def _media_message(self, frame: bytes) -> dict:
        media = {
            "track": "inbound",
            "timestamp": str(int(time.time() * 1000)),
            "chunk": self._chunk,
            "payload": base64.b64encode(frame).decode(),
        }
        return {
            "event": "media",
            "streamId": self.stream_id,
            "media": media,
            "extra_headers": self.extra_headers,
        }

    async def _mark_reached(self, name: str) -> None:
        await self._played(name)

    def _app_closed(self) -> None:
        self.end_reason = "app closed the stream"
        self.hangup_source = "Callee"

    async def _played(self, name: str) -> None:
        self.checkpoints_played.append(name)
        try:
            await self._send({"event": "playedStream", "streamId": self.stream_id, "name": name})
        except websockets.ConnectionClosed:
            pass

    async def _protocol_error(self, reason: str) -> None:
        await self._error(reason)

    async def _error(self, reason: str) -> None:
        """Plivo's error frame (shape as Plivo's own parser reads it; not in the public docs)."""
        self.errors.append(reason)
        try:
            await self._send({"event": "error", "streamId": self.stream_id, "reason": reason})
        except websockets.ConnectionClosed:
            pass

    async def _on_app_message(self, message: str | bytes) -> None:
        msg = await self._decode(message, "binary frame", "invalidJson")
        if msg is None:
            return
        event = msg["event"]
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
    async def send_dtmf(self, digit: str) -> None:
        await self._send({"event": "dtmf", "streamId": self.stream_id, "dtmf": {"digit": digit}})

    async def hangup(self, reason: str = "caller hung up") -> None:
        """The caller hangs up: the socket closes (no stop), then the hangup callback."""
        self.end_reason = self.end_reason or reason
        self.hangup_source = self.hangup_source or "Caller"
        self._hangup.set()
        await self.ended.wait()

    async def drop(self) -> None:
        self.hangup_source = "Error"
        await super().drop()

    def end_by_api(self) -> None:
        self.end_reason = self.end_reason or "ended by REST API"
        self.hangup_source = self.hangup_source or "API Request"
        self._hangup.set()

    def transfer(self, aleg_url: str) -> None:
        self._transfer = aleg_url
        self._hangup.set()

    def to_json(self) -> dict:
        """The call as the REST API shows it: its CDR once over, its live record until then."""
        return cdr_json(self) if self.ended.is_set() else live_json(self)
