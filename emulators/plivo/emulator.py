"""The Plivo emulator: places calls into the app and serves the REST API the `plivo` package calls.

REST (reference §5, §8.5), under `/v1/Account/{auth_id}/`, HTTP Basic `auth_id:auth_token`, JSON bodies:
- `POST Call/` (from, to, answer_url, hangup_url...) -> 201 `{"message": "call fired", "request_uuid"}`,
  then the call is answered and `answer_url` is fetched with `Direction=outbound`;
- `DELETE Call/{uuid}/` -> 204 (hang up: the stream socket closes, the hangup callback follows);
- `POST Call/{uuid}/` with `legs=aleg`, `aleg_url` -> 202 (transfer: the stream closes, aleg_url's XML runs);
- `GET Call/{uuid}/` -> 200 with the call detail record once the call is over (404 while it lasts);
  `GET Call/{uuid}/?status=live` -> 200 with the live call (404 once over);
- `GET Call/` (call_direction, from_number, to_number, hangup_source, hangup_cause_code, limit, offset)
  -> CDRs of finished calls, newest first; `GET Call/?status=live` -> `{"calls": [uuid, ...]}`;
- `POST Message/` (src, dst, text) -> 202 `{"message": "message(s) queued", "message_uuid": [...]}`,
  kept in `messages`; `GET Message/` (limit, offset) and `GET Message/{uuid}/`.
- `GET /v1/Account/{auth_id}/` -> 200 account details;
- `Application/` create, list, get, update, delete; `Number/` list, get, update (link to an app):
  the account's numbers and where inbound calls to them go (emulators/plivo/numbers.py).
Outbound outcomes per dialled number (`outcomes["+1555..."] = ["no-answer", "human"]`, one per
attempt): "human" (default), "busy" / "no-answer" / "failed" (hangup callback with that CallStatus,
answer_url never fetched), "machine" (with `machine_detection`, `Machine=true` is posted to
machine_detection_url shortly after the answer; "human" gets `Machine=false`).
Errors: 401 `{"error": "..."}` for bad credentials, 404 for unknown calls and paths, 405 for methods.
Records: `records.py`.
Point the package at it by setting the base URI constants in `plivo.rest.client` (see telephony.plivo.rest).
"""

from __future__ import annotations

import json
import time
import uuid

from aiohttp import web

from emulators.carrier import dialled_person
from emulators.carrier.rest import CarrierEmulator

from . import records
from .call import PlivoCall
from .numbers import PlivoNumbers

DEFAULT_AUTH_ID = "MA" + "0" * 18
BODY = web.RequestKey("body", dict)


class PlivoEmulator(CarrierEmulator):
    calls: dict[str, PlivoCall]

    def __init__(
        self,
        app_url: str,
        auth_id: str = DEFAULT_AUTH_ID,
        auth_token: str = "",
        public_url: str = "",
        answer_path: str = "/plivo/answer/",
        hangup_path: str = "/plivo/hangup/",
        max_frame_bytes: int = 160,
        jitter_ms: int = 60,
        silence_suppression: bool = False,
    ) -> None:
        super().__init__(app_url, auth_token, public_url, jitter_ms, silence_suppression)
        self.auth_id = auth_id
        self.answer_path = answer_path
        self.hangup_path = hangup_path
        self.max_frame_bytes = max_frame_bytes  # playAudio payloads above this are refused (seed 004)
        self.numbers = PlivoNumbers(self)  # the account's numbers and Applications
        self.conferences: dict[str, list[PlivoCall]] = {}  # <Conference> room -> calls in it now
        self.conference_log: list[tuple[str, str]] = []  # (room, call uuid) of every join, in order

    @property
    def rest_user(self) -> str:
        return self.auth_id

    @property
    def answer_url(self) -> str:
        return self.app_url + self.answer_path

    @property
    def hangup_url(self) -> str:
        return self.app_url + self.hangup_path

    def next_outcome(self, number: str) -> str:
        """An explicit outcome first; else a warm transfer's person by their number (03: no-answer,
        04: busy; emulators/carrier/dialled_person.py); else a human answers."""
        queue = self.outcomes.get(number) or self.outcomes.get(number.lstrip("+"))
        if queue:
            return queue.pop(0)
        person = dialled_person.behaviour(number)
        return person if person in (dialled_person.NEVER_ANSWERS, dialled_person.BUSY) else "human"

    def place_call(
        self,
        to: str,
        from_: str = "+14155550100",
        answer_url: str = "",
        hangup_url: str | None = None,
        silence_suppression: bool | None = None,
    ) -> PlivoCall:
        """An inbound call: Plivo posts the answer_url and runs the XML it gets back.

        `silence_suppression` (default: the emulator's) makes the caller send no media while silent.
        A number linked to an Application (Number update with app_id) sends the call to its URLs.
        """
        app = None if answer_url else self.numbers.application_of(to)
        if app and app["answer_url"]:  # a number linked to an Application: its URLs, as on Plivo
            answer_url = app["answer_url"]
            hangup_url = app["hangup_url"] if hangup_url is None else hangup_url
        call = PlivoCall(
            self,
            to=to,
            from_=from_,
            answer_url=answer_url or self.answer_url,
            hangup_url=self.hangup_url if hangup_url is None else hangup_url,
        )
        return self._placed(call, silence_suppression)

    # --- REST -------------------------------------------------------------------------------------
    def _routes(self, router: web.UrlDispatcher) -> None:
        base = "/v1/Account/{account}"
        router.add_post(base + "/Call/", self._create)
        router.add_get(base + "/Call/{uuid}/", self._fetch)
        router.add_delete(base + "/Call/{uuid}/", self._hangup)
        router.add_post(base + "/Call/{uuid}/", self._transfer)
        router.add_post(base + "/Message/", self._message)
        router.add_get(base + "/", self._account)  # what `manage.py doctor` reads
        self.numbers.routes(router, base)  # Application and Number (emulators/plivo/numbers.py)
        router.add_get(base + "/Call/", self._list_calls)
        router.add_get(base + "/Message/", self._list_messages)
        router.add_get(base + "/Message/{uuid}/", self._fetch_message)

    @staticmethod
    def _api_id() -> str:
        return str(uuid.uuid4())

    def _unauthorized(self) -> web.Response:
        return web.json_response({"api_id": self._api_id(), "error": "authentication failed"}, status=401)

    def _no_route(self, request: web.Request, status: int) -> web.Response:
        error = "method not allowed" if status == 405 else "not found"
        return web.json_response({"api_id": self._api_id(), "error": error}, status=status)

    async def _read_body(self, request: web.Request) -> dict | web.Response:
        if request.method == "GET":  # the package sends a GET's parameters in the query string
            request[BODY] = dict(request.query)
            return request[BODY]
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            return web.json_response({"api_id": self._api_id(), "error": "invalid JSON body"}, status=400)
        request[BODY] = body if isinstance(body, dict) else {}
        return request[BODY]

    def _call_or_404(self, request: web.Request) -> PlivoCall | web.Response:
        call = self.calls.get(request.match_info["uuid"])
        if call is None or call.ended.is_set():
            return web.json_response({"api_id": self._api_id(), "error": "not found"}, status=404)
        return call

    async def _create(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if not body.get("from") or not body.get("to") or not body.get("answer_url"):
            return web.json_response(
                {"api_id": self._api_id(), "error": "from, to and answer_url are required"}, status=400
            )
        call = PlivoCall(
            self,
            to=str(body["to"]),
            from_=str(body["from"]),
            direction="outbound",
            answer_url=str(body["answer_url"]),
            hangup_url=str(body.get("hangup_url") or ""),
        )
        call.outcome = self.next_outcome(str(body["to"]))
        try:
            call.ring_timeout = float(body.get("ring_timeout") or 0)
        except (TypeError, ValueError):
            return web.json_response(
                {"api_id": self._api_id(), "error": "ring_timeout must be a number"}, 400
            )
        if str(body.get("machine_detection") or "").lower() in ("true", "hangup"):
            call.machine_detection_url = str(body.get("machine_detection_url") or "")
        self._placed(call)
        return web.json_response(
            {"message": "call fired", "request_uuid": call.request_uuid, "api_id": self._api_id()}, status=201
        )

    async def _message(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if not body.get("dst") or not body.get("src"):
            return web.json_response(
                {"api_id": self._api_id(), "error": "src and dst are required"}, status=400
            )
        if not body.get("text") and not body.get("media_urls"):
            return web.json_response({"api_id": self._api_id(), "error": "text is required"}, status=400)
        message_uuid = str(uuid.uuid4())
        self.messages.append({"message_uuid": message_uuid, "message_time": time.time(), **body})
        return web.json_response(
            {"message": "message(s) queued", "message_uuid": [message_uuid], "api_id": self._api_id()},
            status=202,
        )

    async def _hangup(self, request: web.Request) -> web.Response:
        call = self._call_or_404(request)
        if isinstance(call, web.Response):
            return call
        call.end_by_api()
        return web.Response(status=204)

    async def _transfer(self, request: web.Request) -> web.Response:
        call = self._call_or_404(request)
        if isinstance(call, web.Response):
            return call
        url = request[BODY].get("aleg_url")
        if request[BODY].get("legs") not in ("aleg", "both") or not url:
            return web.json_response(
                {"api_id": self._api_id(), "error": "legs=aleg and aleg_url are required"}, status=400
            )
        call.transfer(str(url))
        return web.json_response({"message": "call transfered", "api_id": self._api_id()}, status=202)

    async def _account(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "api_id": self._api_id(),
                "account_type": "standard",
                "auth_id": self.auth_id,
                "cash_credits": "10.00000",
                "name": "Plivo emulator",
                "resource_uri": f"/v1/Account/{self.auth_id}/",
                "timezone": "UTC",
            }
        )

    # --- REST: call records, live calls, messages (list and fetch) ---------------------------------
    def _not_found(self) -> web.Response:
        return web.json_response({"api_id": self._api_id(), "error": "not found"}, status=404)

    def _listed(self, request: web.Request, objects: list[dict]) -> web.Response:
        listed = records.listing(request.path, request.query, objects)
        if isinstance(listed, str):
            return web.json_response({"api_id": self._api_id(), "error": listed}, status=400)
        return web.json_response({"api_id": self._api_id(), **listed})

    async def _fetch(self, request: web.Request) -> web.Response:
        """A finished call's CDR, or with `status=live` a call in progress: each 404s for the other."""
        call = self.calls.get(request.match_info["uuid"])
        live = request.query.get("status") == "live"
        if call is None or call.ended.is_set() == live:
            return self._not_found()
        return web.json_response({"api_id": self._api_id(), **call.to_json()})

    async def _list_calls(self, request: web.Request) -> web.Response:
        query = request.query
        live = query.get("status") == "live"
        matches = {
            "call_direction": lambda c, v: c.direction == v,
            "from_number": lambda c, v: records.number(c.from_) == records.number(v),
            "to_number": lambda c, v: records.number(c.to) == records.number(v),
        }
        if not live:
            matches["hangup_source"] = lambda c, v: (c.hangup_source or "Plivo") == v
            matches["hangup_cause_code"] = lambda c, v: str(records.hangup_cause(c.final_status)[2]) == v
        calls = [
            c
            for c in reversed(self.calls.values())
            if c.ended.is_set() != live
            and all(test(c, query[k]) for k, test in matches.items() if k in query)
        ]
        if live:
            return web.json_response({"api_id": self._api_id(), "calls": [c.uuid for c in calls]})
        return self._listed(request, [c.to_json() for c in calls])

    async def _list_messages(self, request: web.Request) -> web.Response:
        objects = [records.message_json(self.auth_id, m) for m in reversed(self.messages)]
        return self._listed(request, objects)

    async def _fetch_message(self, request: web.Request) -> web.Response:
        for message in self.messages:
            if message["message_uuid"] == request.match_info["uuid"]:
                return web.json_response(
                    {"api_id": self._api_id(), **records.message_json(self.auth_id, message)}
                )
        return self._not_found()
