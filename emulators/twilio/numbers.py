"""The Twilio account's own numbers: the IncomingPhoneNumbers REST resource, as the `twilio` package calls it.

Under `/2010-04-01/Accounts/{AccountSid}/` (HTTP Basic, like the rest of the emulator):
- `GET IncomingPhoneNumbers.json[?PhoneNumber=+1...]` -> a page `{"incoming_phone_numbers": [...], ...}`
  (the filter matches part of a number, `*` for any digit, as Twilio's does);
- `GET IncomingPhoneNumbers/{PN...}.json` -> the number, 404 code 20404 if the account has no such sid;
- `POST IncomingPhoneNumbers/{PN...}.json` (VoiceUrl, VoiceMethod, StatusCallback, StatusCallbackMethod,
  VoiceApplicationSid, VoiceFallbackUrl, FriendlyName...) -> 200 + the number as changed.
A call placed to an owned number (`place_call`) goes to that number's voice URL and status callback when
they are set, as a real inbound call would; unset, to the emulator's defaults (the app it was started for).
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .emulator import TwilioEmulator

# The numbers the emulated account owns unless told otherwise: the demo's (bootstrap_demo binds
# +15005550006 to Twilio) and the test suites'.
DEMO_NUMBERS = ("+15005550006", "+15005550007", "+15005550106")
# Form parameter -> the resource's JSON field, for what an update may change.
UPDATABLE = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceApplicationSid": "voice_application_sid",
    "FriendlyName": "friendly_name",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
}


class IncomingNumbers:
    """The account's numbers by sid, and their REST handlers."""

    def __init__(self, emulator: TwilioEmulator, numbers: tuple[str, ...] = DEMO_NUMBERS) -> None:
        self.emulator = emulator
        self.by_sid: dict[str, dict] = {}
        for number in numbers:
            self.add(number)

    def add(self, number: str, **fields: str) -> dict:
        """Give the account `number` (fields as in the JSON resource, e.g. voice_url=...)."""
        sid = "PN" + secrets.token_hex(16)
        account = self.emulator.account_sid
        resource = {
            "sid": sid,
            "account_sid": account,
            "phone_number": number,
            "friendly_name": number,
            "voice_url": "",
            "voice_method": "POST",
            "voice_fallback_url": "",
            "voice_fallback_method": "POST",
            "voice_application_sid": "",
            "status_callback": "",
            "status_callback_method": "POST",
            "sms_url": "",
            "sms_method": "POST",
            "api_version": "2010-04-01",
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "uri": f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json",
            **fields,
        }
        self.by_sid[sid] = resource
        return resource

    def find(self, number: str) -> dict | None:
        return next((n for n in self.by_sid.values() if n["phone_number"] == number), None)

    def voice_url(self, number: str) -> str:
        """Where an inbound call to `number` is sent ("" if the number has none or is not ours)."""
        found = self.find(number)
        return found["voice_url"] if found else ""

    def status_callback(self, number: str) -> str | None:
        """The number's status callback, or None when it has no voice URL (the emulator's default applies)."""
        found = self.find(number)
        return found["status_callback"] if found and found["voice_url"] else None

    # --- REST -------------------------------------------------------------------------------------
    def routes(self, router: web.UrlDispatcher, base: str) -> None:
        router.add_get(base + "/IncomingPhoneNumbers.json", self._list)
        router.add_get(base + "/IncomingPhoneNumbers/{pn}.json", self._fetch)
        router.add_post(base + "/IncomingPhoneNumbers/{pn}.json", self._update)

    @staticmethod
    def _matches(pattern: str, number: str) -> bool:
        if not pattern:
            return True
        regex = re.escape(pattern.strip()).replace(r"\*", r"\d")
        return re.search(regex, number) is not None

    async def _list(self, request: web.Request) -> web.Response:
        pattern = request.query.get("PhoneNumber", "")
        found = [n for n in self.by_sid.values() if self._matches(pattern, n["phone_number"])]
        uri = request.path_qs
        return web.json_response(
            {
                "incoming_phone_numbers": found,
                "page": 0,
                "page_size": int(request.query.get("PageSize", 50)),
                "start": 0,
                "end": max(len(found) - 1, 0),
                "uri": uri,
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
            }
        )

    def _resource_or_404(self, request: web.Request) -> dict | web.Response:
        found = self.by_sid.get(request.match_info["pn"])
        if found is None:
            return self.emulator._error(404, 20404, f"The requested resource {request.path} was not found")
        return found

    async def _fetch(self, request: web.Request) -> web.Response:
        found = self._resource_or_404(request)
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def _update(self, request: web.Request) -> web.Response:
        found = self._resource_or_404(request)
        if isinstance(found, web.Response):
            return found
        form = await request.post()
        for param, field in UPDATABLE.items():
            if param in form:
                found[field] = form[param]
        return web.json_response(found)
