"""One emulated Twilio call: the signed voice webhook, TwiML execution, and the Media Stream.

It behaves toward the app as Twilio does (reference §1-§4, §8): form-encoded signed webhooks,
`<Connect><Stream>` over a plain RFC 6455 WebSocket, `connected` then `start` then one `media`
every 20 ms (string sequence numbers), a playout FIFO that echoes marks when reached and returns
every pending mark on `clear`, `stop` on caller hangup, and a signed status callback at the end.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import websockets
from twilio.request_validator import RequestValidator

from emulators.carrier.call import CarrierCall

from .records import call_json

if TYPE_CHECKING:
    from .emulator import TwilioEmulator

log = logging.getLogger(__name__)

PERSON_LISTENS_S = 0.5  # a warm transfer's person hears the brief this long before pressing


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class TwilioCall(CarrierCall):
    carrier = "twilio"
    log = log
    sequence_type = str

    def __init__(
        self,
        emulator: TwilioEmulator,
        to: str,
        from_: str,
        direction: str = "inbound",
        voice_url: str = "",
        status_callback: str = "",
        status_events: tuple[str, ...] = ("completed",),
    ) -> None:
        super().__init__(emulator, to, from_, direction, marks_on_clear=True)
        self.updated_at = self.created  # date_updated: the last status change
        # start_time: inbound calls start when they arrive, REST-created ones when they are dialled.
        self.started_at: float | None = self.created if direction == "inbound" else None
        self.sid = new_sid("CA")
        self.voice_url = voice_url
        self.preset_twiml = ""  # REST create with Twiml= instead of Url=
        self.machine_detection = ""  # MachineDetection asked for by the REST create
        self.answered_by = ""  # AnsweredBy sent with the voice webhook (AMD result)
        self.status_callback = status_callback
        self.status_events = status_events
        self.status = "queued" if direction != "inbound" else "ringing"
        self.twiml = ""
        self.said: list[str] = []  # <Say> texts
        self.marks_returned: list[str] = []
        self.stream_sid = ""
        self._stream_params: dict[str, str] = {}  # <Parameter>s of the <Stream>, sent in `start`
        self._redirect: tuple[str, str] | None = None  # TwiML to run after the stream stops
        # A warm transfer's person (emulator._create): the digit they press at a <Gather> ("" = none).
        self.person_presses = ""
        self.ring_seconds = 0.0  # how long the phone rings before its outcome (no-answer)
        self.gathers: list[dict[str, str]] = []  # each <Gather> answered: action and what was sent
        self.conference = ""  # the <Dial><Conference> room this call is (or was) in

    @property
    def call_id(self) -> str:
        return self.sid

    @property
    def status(self) -> str:
        """queued, ringing, in-progress, then completed, busy, no-answer, failed or canceled."""
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        if value != getattr(self, "_status", None):
            self._status = value
            self.updated_at = time.time()

    # --- lifecycle --------------------------------------------------------------------------------
    async def _flow(self) -> None:
        if self.direction != "inbound":
            self.started_at = time.time()
            await self._status_callback("initiated")
            self.status = "ringing"
            await self._status_callback("ringing")
            if self.outcome in ("busy", "no-answer", "failed"):
                if self.outcome == "no-answer" and self.ring_seconds:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hangup.wait(), self.ring_seconds)
                    if self._hangup.is_set():  # the REST API ended it while it rang: Twilio says canceled
                        self.status = "canceled"
                        self.end_reason = "canceled while ringing"
                        return
                self.status = self.outcome
                self.end_reason = f"callee {self.outcome}"
                return
            if self.machine_detection:
                self.answered_by = "machine_end_beep" if self.outcome == "machine" else "human"
            self.status = "in-progress"
            self.answered_at = time.time()
            await self._status_callback("answered")
        twiml = self.preset_twiml or await self._fetch_twiml(self.voice_url)
        while twiml is not None:
            twiml = await self._execute(twiml)

    async def _finish(self) -> None:
        if self.status not in ("completed", "busy", "failed", "no-answer", "canceled"):
            self.status = "completed"
        self.end_reason = self.end_reason or "twiml finished"
        self.stream_ended.set()
        await self._status_callback("completed")

    # --- webhooks ---------------------------------------------------------------------------------
    def params(self, **extra: str) -> dict[str, str]:
        data = {
            "CallSid": self.sid,
            "AccountSid": self.emulator.account_sid,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
            "CallStatus": self.status,
            "Direction": self.direction,
            "ApiVersion": "2010-04-01",
        }
        if self.answered_by:
            data["AnsweredBy"] = self.answered_by
        data.update(extra)
        return data

    async def post_signed(self, url: str, data: dict[str, str]):
        """POST a form signed as Twilio does, over the URL the app is configured with."""
        signature = RequestValidator(self.emulator.auth_token).compute_signature(
            self.emulator.signed_url(url), data
        )
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        return await self.emulator.http.post(self.emulator.reach_url(url), data=data, headers=headers)

    async def _fetch_twiml(self, url: str, **extra: str) -> str | None:
        response = await self.post_signed(url, self.params(**extra))
        self.webhook_status = response.status_code
        if response.status_code != 200:
            self.errors.append(f"11200: voice webhook answered HTTP {response.status_code}")
            self.end_reason = "application error (webhook)"
            self.status = "failed"
            return None
        self.twiml = response.text
        return response.text

    async def _status_callback(self, event: str) -> None:
        if not self.status_callback or event not in self.status_events:
            return
        status = {"answered": "in-progress", "initiated": "queued"}.get(event, event)
        if event == "completed":
            status = self.status
        extra = {
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(len(self.callbacks)),
        }
        if event == "completed":
            extra["CallDuration"] = str(int(time.time() - (self.answered_at or self.created)))
        try:
            response = await self.post_signed(self.status_callback, self.params(**extra))
            self.callbacks.append((status, response.status_code))
        except Exception as exc:  # noqa: BLE001 - Twilio logs a failed callback and moves on
            self.callbacks.append((status, 0))
            log.warning("twilio emulator: status callback to %s failed: %s", self.status_callback, exc)

    # --- TwiML ------------------------------------------------------------------------------------
    async def _execute(self, twiml: str) -> str | None:
        """Run a TwiML document; returns the next document to run (redirect/action) or None."""
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError as exc:
            self.errors.append(f"12100: TwiML does not parse: {exc}")
            self.end_reason = "application error (twiml)"
            return None
        if root.tag != "Response":
            self.errors.append("12100: root element is not <Response>")
            return None
        for verb in root:
            if verb.tag == "Say":
                self.said.append((verb.text or "").strip())
            elif verb.tag == "Hangup":
                self.end_reason = "twiml hangup"
                return None
            elif verb.tag == "Pause":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hangup.wait(), min(float(verb.get("length", "1")), 5.0))
                if self._hangup.is_set():
                    return await self._interrupted()
            elif verb.tag == "Gather":
                answered = await self._gather(verb)
                if answered is not False:
                    return answered
            elif verb.tag == "Dial" and verb.find("Conference") is not None:
                await self._conference(verb.find("Conference"))
                return await self._interrupted()
            elif verb.tag == "Dial":
                numbers = [(child.text or "").strip() for child in verb] or [(verb.text or "").strip()]
                self.dialed.extend(numbers)
                self.end_reason = f"dialed {', '.join(numbers)}"
                return None
            elif verb.tag == "Redirect":
                return await self._fetch_twiml(urljoin(self.voice_url, (verb.text or "").strip()))
            elif verb.tag == "Connect":
                stream = verb.find("Stream")
                if stream is None:
                    self.errors.append("12100: <Connect> without <Stream>")
                    continue
                await self._stream(stream)
                if self._redirect is not None or self._hangup.is_set():
                    return await self._interrupted()
                action = verb.get("action")
                if action:
                    return await self._fetch_twiml(urljoin(self.voice_url, action))
            else:
                self.errors.append(f"12100: verb <{verb.tag}> not emulated")
        return None

    async def _gather(self, verb: ET.Element) -> str | None | bool:
        """<Gather>: its nested <Say>s are heard, then the person presses `person_presses` (a caller
        placed by a test presses nothing). With an answer, or `actionOnEmptyResult`, Twilio posts the
        action and runs the TwiML it answers; with neither it goes on to the next verb (False)."""
        for child in verb:
            if child.tag == "Say":
                self.said.append((child.text or "").strip())
            elif child.tag not in ("Play", "Pause"):
                self.errors.append(f"12200: <{child.tag}> is not allowed inside <Gather>")
        digits = self.person_presses
        if digits:  # the person listens to the brief before answering
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hangup.wait(), PERSON_LISTENS_S)
            if self._hangup.is_set():
                return await self._interrupted()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hangup.wait(), min(float(verb.get("timeout", "5")), 2.0))
            if self._hangup.is_set():
                return await self._interrupted()
            if verb.get("actionOnEmptyResult") != "true":
                return False
        action = verb.get("action", "")
        if not action:
            self.errors.append("emulator: <Gather> without an action URL is not emulated")
            return None
        extra = {"Digits": digits, "FinishedOnKey": ""} if digits else {}
        self.gathers.append({"action": action, **extra})
        return await self._fetch_twiml(urljoin(self.voice_url, action), **extra)

    async def _conference(self, element: ET.Element) -> None:
        """<Dial><Conference>: in the room until hung up (or redirected); leaving a room whose member
        had endConferenceOnExit ends it for everyone."""
        room = (element.text or "").strip()
        rooms = self.emulator.conferences
        self.conference = room
        rooms.setdefault(room, []).append(self.sid)
        self.emulator.conference_log.append((room, self.sid, "join"))
        self.dialed.append(f"conference:{room}")
        self.end_reason = f"conference {room}"
        await self._hangup.wait()
        members = rooms.get(room, [])
        if self.sid in members:
            members.remove(self.sid)
        self.emulator.conference_log.append((room, self.sid, "leave"))
        if element.get("endConferenceOnExit") == "true":
            for sid in list(members):
                other = self.emulator.calls.get(sid)
                if other is not None:
                    other.end_reason = other.end_reason or f"conference {room} ended"
                    other.end_by_api("completed")
        if not members:
            rooms.pop(room, None)

    async def _interrupted(self) -> str | None:
        """The REST API redirected the call (the new TwiML to run) or hung it up (None)."""
        if self._redirect is None:
            return None
        kind, value = self._redirect
        self._redirect = None
        self._hangup.clear()
        return value if kind == "twiml" else await self._fetch_twiml(value)

    # --- the Media Stream -------------------------------------------------------------------------
    async def _stream(self, element: ET.Element) -> None:
        url = element.get("url", "")
        if not url.startswith(("ws://", "wss://")) or urlsplit(url).query:
            self.errors.append(f"31920: stream URL {url!r} must be ws(s):// without a query string")
            self.end_reason = "stream handshake error"
            return
        self._stream_params = {p.get("name", ""): p.get("value", "") for p in element.findall("Parameter")}
        self.stream_sid = new_sid("MZ")
        if self.status == "ringing":
            self.status = "in-progress"
            self.answered_at = time.time()
        await self._connect(url)

    def _handshake_headers(self, url: str) -> dict[str, str]:
        """Twilio signs the upgrade too: the wss:// URL with no parameters (reference §2)."""
        return {"X-Twilio-Signature": RequestValidator(self.emulator.auth_token).compute_signature(url, {})}

    async def _greet(self) -> None:
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"}, numbered=False)
        await self._send(
            {
                "event": "start",
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": self.emulator.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.sid,
                    "tracks": ["inbound"],
                    "customParameters": self._stream_params,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )

    def _connect_failed(self, exc: Exception) -> None:
        self.errors.append(f"31920: stream handshake failed: {exc}")
        self.end_reason = "stream handshake error"

    async def _caller_stops(self, ws) -> None:
        await self._send(
            {
                "event": "stop",
                "streamSid": self.stream_sid,
                "stop": {"accountSid": self.emulator.account_sid, "callSid": self.sid},
            }
        )
        await ws.close()

    def _media_message(self, frame: bytes) -> dict:
        media = {
            "track": "inbound",
            "chunk": str(self._chunk),
            "timestamp": str(int((time.monotonic() - self._stream_t0) * 1000)),
            "payload": base64.b64encode(frame).decode(),
        }
        return {"event": "media", "streamSid": self.stream_sid, "media": media}

    async def _mark_reached(self, name: str) -> None:
        await self._send_mark(name)

    async def _send_mark(self, name: str) -> None:
        self.marks_returned.append(name)
        try:
            await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
        except websockets.ConnectionClosed:
            pass

    async def _on_app_message(self, message: str | bytes) -> None:
        msg = await self._decode(message, "31950: binary frame", "31951: not JSON or no event")
        if msg is None:
            return
        event = msg["event"]
        if event not in ("media", "mark", "clear"):
            self.errors.append(f"31951: unknown event {event!r}")
            return
        if msg.get("streamSid") != self.stream_sid:
            self.errors.append(f"31951: wrong streamSid in {event}")
            return
        if event == "media":
            try:
                audio = base64.b64decode(msg["media"]["payload"], validate=True)
            except (KeyError, TypeError, binascii.Error):
                self.errors.append("31951: media without a base64 payload")
                return
            self.playout.add_audio(audio, time.monotonic())
        elif event == "mark":
            name = (msg.get("mark") or {}).get("name") if isinstance(msg.get("mark"), dict) else None
            if not name:
                self.errors.append("31951: mark without mark.name")
                return
            for ready in self.playout.add_mark(name):
                await self._send_mark(ready)
        elif event == "clear":
            for name in self.playout.clear():
                await self._send_mark(name)

    # --- what the caller (or the REST API) does ---------------------------------------------------
    async def send_dtmf(self, digit: str) -> None:
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def hangup(self, reason: str = "caller hung up") -> None:
        """The caller hangs up: `stop`, close, status callback."""
        self.end_reason = self.end_reason or reason
        self._hangup.set()
        if not self.stream_started.is_set():
            self.status = "canceled" if self.status in ("queued", "ringing") else self.status
        await self.ended.wait()

    def end_by_api(self, status: str = "completed") -> None:
        """REST Status=completed / canceled."""
        self.end_reason = self.end_reason or "ended by REST API"
        if status == "canceled" and not self.stream_started.is_set():
            self.status = "canceled"
        self._hangup.set()

    def redirect(self, twiml: str = "", url: str = "") -> None:
        """REST Twiml=/Url=: stop the stream, then run the new TwiML."""
        self._redirect = ("twiml", twiml) if twiml else ("url", url)
        self._hangup.set()

    def to_json(self) -> dict:
        return call_json(self)
