"""The Plivo account's numbers and Applications: the REST resources the `plivo` package calls to point a
number at an app.

Under `/v1/Account/{auth_id}/` (HTTP Basic, like the rest of the emulator), JSON bodies:
- `POST Application/` (app_name, answer_url, answer_method, hangup_url, hangup_method...)
  -> 201 `{"message": "created", "app_id"}`; `GET Application/[?app_name=]` -> `{"meta", "objects"}`;
  `GET Application/{app_id}/`; `POST Application/{app_id}/` -> 202 `{"message": "changed"}`;
  `DELETE Application/{app_id}/` -> 204 (numbers linked to it are left with no application);
- `GET Number/` -> `{"meta", "objects"}`; `GET Number/{number}/` (digits, no +) -> the number, whose
  `application` is the linked app's resource URI or null; 404 `{"error": "not found"}` if not ours;
  `POST Number/{number}/` with `app_id` (an empty one unlinks) and/or `alias` -> 202 `{"message": "changed"}`.
An inbound call (`place_call`) to a number linked to an Application goes to that app's answer and
hangup URLs, as on Plivo; an unlinked number uses the emulator's defaults (the app it was started for).
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .emulator import PlivoEmulator

# The numbers the emulated account owns unless told otherwise (bootstrap_demo binds +15005550007 to
# Plivo; the tests use +15005550106), as Plivo writes them: digits, no +.
DEMO_NUMBERS = ("15005550006", "15005550007", "15005550106")
APP_FIELDS = (
    "answer_url",
    "answer_method",
    "hangup_url",
    "hangup_method",
    "fallback_answer_url",
    "fallback_method",
    "message_url",
    "message_method",
)


def digits(number: str) -> str:
    return number.strip().lstrip("+")


class PlivoNumbers:
    """The account's numbers (by digits) and Applications (by app_id), and their REST handlers."""

    def __init__(self, emulator: PlivoEmulator, numbers: tuple[str, ...] = DEMO_NUMBERS) -> None:
        self.emulator = emulator
        self.numbers: dict[str, dict] = {}
        self.applications: dict[str, dict] = {}
        for number in numbers:
            self.add(number)

    @property
    def _account_uri(self) -> str:
        return f"/v1/Account/{self.emulator.auth_id}"

    def add(self, number: str, app_id: str = "") -> dict:
        """Give the account `number`, linked to the Application `app_id` if given."""
        key = digits(number)
        self.numbers[key] = {
            "number": key,
            "alias": None,
            "application": None,
            "carrier": "Plivo",
            "number_type": "local",
            "region": "California, UNITED STATES",
            "voice_enabled": True,
            "sms_enabled": True,
            "added_on": "2026-01-01",
            "sub_account": None,
            "resource_uri": f"{self._account_uri}/Number/{key}/",
        }
        if app_id:
            self.link(key, app_id)
        return self.numbers[key]

    def create_application(self, app_name: str, **fields: str) -> dict:
        app_id = str(secrets.randbelow(10**17) + 10**16)
        app = {
            "app_id": app_id,
            "app_name": app_name,
            "answer_url": "",
            "answer_method": "POST",
            "hangup_url": "",
            "hangup_method": "POST",
            "fallback_answer_url": "",
            "fallback_method": "POST",
            "message_url": "",
            "message_method": "POST",
            "application_type": "XML",
            "default_app": False,
            "default_endpoint_app": False,
            "enabled": True,
            "public_uri": False,
            "log_incoming_messages": True,
            "sub_account": None,
            "sip_uri": f"sip:{app_id}@app.plivo.com",
            "resource_uri": f"{self._account_uri}/Application/{app_id}/",
        }
        app.update({k: v for k, v in fields.items() if k in APP_FIELDS and v is not None})
        self.applications[app_id] = app
        return app

    def link(self, number: str, app_id: str) -> None:
        app = self.applications.get(app_id) if app_id else None
        self.numbers[digits(number)]["application"] = app["resource_uri"] if app else None

    def application_of(self, number: str) -> dict | None:
        """The Application linked to `number`, if it is ours and linked."""
        found = self.numbers.get(digits(number))
        uri = found and found["application"]
        if not uri:
            return None
        return self.applications.get(uri.rstrip("/").rsplit("/", 1)[-1])

    # --- REST -------------------------------------------------------------------------------------
    def routes(self, router: web.UrlDispatcher, base: str) -> None:
        router.add_post(base + "/Application/", self._create_app)
        router.add_get(base + "/Application/", self._list_apps)
        router.add_get(base + "/Application/{app_id}/", self._get_app)
        router.add_post(base + "/Application/{app_id}/", self._update_app)
        router.add_delete(base + "/Application/{app_id}/", self._delete_app)
        router.add_get(base + "/Number/", self._list_numbers)
        router.add_get(base + "/Number/{number}/", self._get_number)
        router.add_post(base + "/Number/{number}/", self._update_number)

    @staticmethod
    def _reply(body: dict, status: int = 200) -> web.Response:
        return web.json_response({"api_id": str(uuid.uuid4()), **body}, status=status)

    def _not_found(self) -> web.Response:
        return self._reply({"error": "not found"}, 404)

    @staticmethod
    async def _body(request: web.Request) -> dict:
        try:
            body = json.loads(await request.text() or "{}")  # already checked by the emulator's middleware
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _page(self, request: web.Request, objects: list[dict]) -> web.Response:
        limit = int(request.query.get("limit", 20))
        offset = int(request.query.get("offset", 0))
        meta = {"limit": limit, "offset": offset, "next": None, "previous": None, "total_count": len(objects)}
        return self._reply({"meta": meta, "objects": objects[offset : offset + limit]})

    async def _create_app(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        name = str(body.get("app_name") or "")
        if not name:
            return self._reply({"error": "app_name is required"}, 400)
        if any(a["app_name"] == name for a in self.applications.values()):
            return self._reply({"error": f"an application named {name} already exists"}, 400)
        app = self.create_application(name, **{k: str(v) for k, v in body.items() if k in APP_FIELDS})
        return self._reply({"message": "created", "app_id": app["app_id"]}, 201)

    async def _list_apps(self, request: web.Request) -> web.Response:
        name = request.query.get("app_name", "")
        apps = [a for a in self.applications.values() if not name or a["app_name"] == name]
        return self._page(request, apps)

    async def _get_app(self, request: web.Request) -> web.Response:
        app = self.applications.get(request.match_info["app_id"])
        return self._reply(app) if app else self._not_found()

    async def _update_app(self, request: web.Request) -> web.Response:
        app = self.applications.get(request.match_info["app_id"])
        if app is None:
            return self._not_found()
        body = await self._body(request)
        app.update({k: str(v) for k, v in body.items() if k in APP_FIELDS and v is not None})
        return self._reply({"message": "changed"}, 202)

    async def _delete_app(self, request: web.Request) -> web.Response:
        app = self.applications.pop(request.match_info["app_id"], None)
        if app is None:
            return self._not_found()
        for number in self.numbers.values():
            if number["application"] == app["resource_uri"]:
                number["application"] = None
        return web.Response(status=204)

    async def _list_numbers(self, request: web.Request) -> web.Response:
        start = request.query.get("number_startswith", "")
        return self._page(request, [n for n in self.numbers.values() if n["number"].startswith(start)])

    async def _get_number(self, request: web.Request) -> web.Response:
        number = self.numbers.get(digits(request.match_info["number"]))
        return self._reply(number) if number else self._not_found()

    async def _update_number(self, request: web.Request) -> web.Response:
        key = digits(request.match_info["number"])
        if key not in self.numbers:
            return self._not_found()
        body = await self._body(request)
        if "app_id" in body:
            app_id = str(body["app_id"] or "")
            if app_id and app_id not in self.applications:
                return self._reply({"error": f"application {app_id} not found"}, 400)
            self.link(key, app_id)
        if "alias" in body:
            self.numbers[key]["alias"] = body["alias"]
        return self._reply({"message": "changed"}, 202)
