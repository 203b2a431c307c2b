"""The Twilio emulator: places calls into the app and serves the REST API the `twilio` package calls.

REST (reference §5, §8.6), under `/2010-04-01/Accounts/{AccountSid}/`, HTTP Basic `AccountSid:AuthToken`:
- `POST Calls.json` (To, From, Url | Twiml, StatusCallback, StatusCallbackEvent...) -> 201 + Call JSON,
  then the call is "answered" and its TwiML runs (`Direction=outbound-api`);
- `POST Calls/{CallSid}.json` with `Status=completed|canceled` (hang up) or `Twiml`/`Url` (redirect) -> 200;
- `GET Calls/{CallSid}.json` -> 200; `GET Calls.json` (To, From, Status, ParentCallSid, PageSize, Page,
  PageToken) -> a page of calls, newest first; `DELETE Calls/{CallSid}.json` -> 204 once the call is over
  (400 code 20009 before), after which it is gone (404);
- `POST Messages.json` (To, From, Body) -> 201 + Message JSON; the message is kept in `messages`;
  `GET Messages.json` (To, From, paging) and `GET Messages/{MessageSid}.json`.
- `GET /2010-04-01/Accounts/{AccountSid}.json` -> 200 Account JSON (status "active");
- `IncomingPhoneNumbers.json` list, `IncomingPhoneNumbers/{PN}.json` fetch and update: the account's
  numbers (emulators/twilio/numbers.py), where inbound calls to them go.
The person a warm transfer dials (a REST-created call whose TwiML has a `<Gather>`), when `outcomes` has
nothing for the number, acts by the number's last two digits (docs/emulators.md): 01 answers, hears the
`<Say>` and presses 1; 02 presses 2; 03 never answers (no-answer after the ring, at most PERSON_RING_S);
04 is busy; ended through the REST API while it rings, it is "canceled". `<Dial><Conference>` rooms and who is in them: `conferences` (now) and `conference_log`.
Outbound outcomes per dialled number (`outcomes["+1555..."] = ["busy", "human"]`, one per attempt):
"human" (default) answers, "busy" / "no-answer" / "failed" never answer (status callbacks report it),
"machine" answers as an answering machine: with `MachineDetection` the voice webhook carries
`AnsweredBy=machine_end_beep` (synchronous AMD), "human" gives `AnsweredBy=human`.
Errors as Twilio sends them: 401 code 20003 (authentication), 404 code 20404 (unknown call or path),
405 code 20004, 400 code 21220 (redirecting a call that is over). Records: `records.py`.
Point the package at it with `client.api.base_url = emulator.rest_url` (or TWILIO_API_BASE_URL in the app).
"""

from __future__ import annotations

import secrets
import time

from aiohttp import web

from emulators.carrier.rest import CarrierEmulator

from . import records
from .call import TwilioCall
from .numbers import IncomingNumbers

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
PERSON_RING_S = 2.0  # a person who never answers rings this long at most (Twilio: the create's Timeout)


def person_outcome(number: str) -> str:
    """What the person at `number` does with a warm transfer's call (the emulators' shared convention)."""
    return {"03": "no-answer", "04": "busy"}.get(number[-2:], "human")


class TwilioEmulator(CarrierEmulator):
    calls: dict[str, TwilioCall]

    def __init__(
        self,
        app_url: str,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = "",
        public_url: str = "",
        voice_path: str = "/twilio/voice/",
        status_path: str = "/twilio/status/",
        jitter_ms: int = 60,
        silence_suppression: bool = False,
    ) -> None:
        super().__init__(app_url, auth_token, public_url, jitter_ms, silence_suppression)
        self.account_sid = account_sid
        self.voice_url = self.app_url + voice_path
        self.status_url = self.app_url + status_path
        self.numbers = IncomingNumbers(self)  # the account's numbers (IncomingPhoneNumbers)
        self.conferences: dict[str, list[str]] = {}  # room -> sids of the calls in it now
        self.conference_log: list[tuple[str, str, str]] = []  # (room, call sid, "join" | "leave")
        self.person_ring_s = PERSON_RING_S  # how long a never-answering person rings (at most)

    @property
    def rest_user(self) -> str:
        return self.account_sid

    # --- calls into the app -----------------------------------------------------------------------
    def place_call(
        self,
        to: str,
        from_: str = "+15005550006",
        voice_url: str = "",
        status_callback: str | None = None,
        silence_suppression: bool | None = None,
    ) -> TwilioCall:
        """An inbound call: Twilio posts the voice webhook and runs the TwiML it gets back.

        `silence_suppression` (default: the emulator's) makes the caller send no media while silent.
        An owned number whose voice URL is set (IncomingPhoneNumbers update) sends the call there.
        """
        if status_callback is None and not voice_url:
            status_callback = self.numbers.status_callback(to)
        call = TwilioCall(
            self,
            to=to,
            from_=from_,
            voice_url=voice_url or self.numbers.voice_url(to) or self.voice_url,
            status_callback=self.status_url if status_callback is None else status_callback,
        )
        return self._placed(call, silence_suppression)

    # --- REST -------------------------------------------------------------------------------------
    def _routes(self, router: web.UrlDispatcher) -> None:
        base = "/2010-04-01/Accounts/{account}"
        router.add_post(base + "/Calls.json", self._create)
        router.add_post(base + "/Calls/{sid}.json", self._update)
        router.add_get(base + "/Calls/{sid}.json", self._fetch)
        router.add_post(base + "/Messages.json", self._message)
        router.add_get(base + ".json", self._account)  # what `manage.py doctor` reads
        self.numbers.routes(router, base)  # IncomingPhoneNumbers (emulators/twilio/numbers.py)
        router.add_get(base + "/Calls.json", self._list_calls)
        router.add_delete(base + "/Calls/{sid}.json", self._delete_call)
        router.add_get(base + "/Messages.json", self._list_messages)
        router.add_get(base + "/Messages/{sid}.json", self._fetch_message)

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    def _unauthorized(self) -> web.Response:
        return self._error(401, 20003, "Authentication Error - invalid username")

    def _no_route(self, request: web.Request, status: int) -> web.Response:
        if status == 405:
            return self._error(405, 20004, f"Method {request.method} not allowed on {request.path}")
        return self._error(404, 20404, f"The requested resource {request.path} was not found")

    async def _read_body(self, request: web.Request) -> dict:
        params = request.query if request.method in ("GET", "DELETE") else await request.post()
        return {k: params.getall(k) for k in params}

    def _call_or_404(self, request: web.Request) -> TwilioCall | web.Response:
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return self._error(404, 20404, f"The requested resource {request.path} was not found")
        return call

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        to, from_ = form.get("To", ""), form.get("From", "")
        if not to or not from_:
            return self._error(400, 21201 if not to else 21213, "To and From are required")
        url, twiml = form.get("Url", ""), form.get("Twiml", "")
        if not url and not twiml and not form.get("ApplicationSid"):
            return self._error(400, 21205, "Url, Twiml or ApplicationSid is required")
        events = tuple(form.getall("StatusCallbackEvent", [])) or ("completed",)
        call = TwilioCall(
            self,
            to=to,
            from_=from_,
            direction="outbound-api",
            voice_url=url,
            status_callback=form.get("StatusCallback", ""),
            status_events=events,
        )
        if twiml:
            call.voice_url = ""
            call.preset_twiml = twiml
        person = "<Gather" in twiml and not self.outcomes.get(to)
        call.outcome = person_outcome(to) if person else self.next_outcome(to)
        if person:
            call.person_presses = {"01": "1", "02": "2"}.get(to[-2:], "")
            call.ring_seconds = min(float(form.get("Timeout", "60") or 60), self.person_ring_s)
        call.machine_detection = form.get("MachineDetection", "")
        self._placed(call)
        return web.json_response(call.to_json(), status=201)

    async def _update(self, request: web.Request) -> web.Response:
        call = self._call_or_404(request)
        if isinstance(call, web.Response):
            return call
        form = await request.post()
        status = form.get("Status", "")
        if status in ("completed", "canceled"):
            call.end_by_api(status)
        elif (form.get("Twiml") or form.get("Url")) and call.ended.is_set():
            return self._error(400, 21220, "Call is not in-progress. Cannot redirect.")
        elif form.get("Twiml") or form.get("Url"):
            call.redirect(twiml=form.get("Twiml", ""), url=form.get("Url", ""))
        return web.json_response(call.to_json())

    async def _message(self, request: web.Request) -> web.Response:
        form = await request.post()
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not body and not form.get("MediaUrl"):
            return self._error(400, 21602, "Message body is required.")
        sid = "SM" + secrets.token_hex(16)
        message = records.message_json(self.account_sid, sid, to, from_, body, time.time())
        self.messages.append(message)
        return web.json_response(message, status=201)

    async def _fetch(self, request: web.Request) -> web.Response:
        call = self._call_or_404(request)
        return call if isinstance(call, web.Response) else web.json_response(call.to_json())

    async def _account(self, request: web.Request) -> web.Response:
        uri = f"/2010-04-01/Accounts/{self.account_sid}.json"
        return web.json_response(
            {
                "sid": self.account_sid,
                "owner_account_sid": self.account_sid,
                "friendly_name": "Twilio emulator",
                "status": "active",
                "type": "Full",
                "uri": uri,
            }
        )

    # --- REST: call and message records (list, delete, fetch) --------------------------------------
    def _page(self, request: web.Request, key: str, items: list[dict], filters: dict) -> web.Response:
        listed = records.page(key, request.path, request.query, reversed(items), filters)
        if isinstance(listed, str):
            return self._error(400, 20001, listed)
        return web.json_response(listed)

    async def _list_calls(self, request: web.Request) -> web.Response:
        def same(field: str):
            return lambda record, value: record[field] == value

        filters = {
            "To": same("to"),
            "From": same("from"),
            "Status": same("status"),
            "ParentCallSid": same("parent_call_sid"),
        }
        return self._page(request, "calls", [c.to_json() for c in self.calls.values()], filters)

    async def _delete_call(self, request: web.Request) -> web.Response:
        call = self._call_or_404(request)
        if isinstance(call, web.Response):
            return call
        if not call.ended.is_set():
            return self._error(400, 20009, "Cannot delete this resource before it is complete")
        del self.calls[call.sid]
        return web.Response(status=204)

    async def _list_messages(self, request: web.Request) -> web.Response:
        filters = {"To": lambda r, v: r["to"] == v, "From": lambda r, v: r["from"] == v}
        return self._page(request, "messages", self.messages, filters)

    async def _fetch_message(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        for message in self.messages:
            if message["sid"] == sid:
                return web.json_response(message)
        return self._error(404, 20404, f"The requested resource {request.path} was not found")
