"""Connect a Twilio number to this app: its voice URL and status callback, set through the REST API.

`IncomingPhoneNumbers.json?PhoneNumber=` finds the number on the account; an update sets the four
fields (and clears a TwiML App, which would take precedence over the voice URL); the old values are
kept so a disconnect can put them back.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioException, TwilioRestException

from agents.wiring import Connector, WiringError
from telephony.outbound.failures import describe

from . import rest

FIELDS = ("voice_url", "voice_method", "status_callback", "status_callback_method")


def targets() -> dict[str, str]:
    """The fields a connected number has: our voice webhook and status callback, both POST."""
    base = settings.PUBLIC_BASE_URL
    return {
        "voice_url": base + reverse("twilio-voice"),
        "voice_method": "POST",
        "status_callback": base + reverse("twilio-status"),
        "status_callback_method": "POST",
    }


def _client():
    client = rest.client()
    if client is None:
        raise WiringError(
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set: set them to your account's "
            "(Twilio console, Account info) and restart."
        )
    return client


def _as_rest_error(exc: Exception) -> Exception:
    """A list page Twilio refused comes as TwilioException("Unable to fetch page", response): read the
    status and Twilio's code and message from the response, as for any other refused request."""
    response = exc.args[1] if isinstance(exc, TwilioException) and len(exc.args) > 1 else None
    if not hasattr(response, "status_code"):
        return exc
    try:
        body = json.loads(response.text)
    except (TypeError, ValueError):
        body = {}
    body = body if isinstance(body, dict) else {}
    return TwilioRestException(
        response.status_code, "", body.get("message", "") or exc.args[0], body.get("code")
    )


def _refusal(exc: Exception) -> WiringError:
    """A readable line for what went wrong talking to Twilio."""
    exc = _as_rest_error(exc)
    if isinstance(exc, TwilioRestException):
        if exc.status == 401:
            return WiringError(
                f"Twilio refused our credentials (HTTP 401, code {exc.code}): check TWILIO_ACCOUNT_SID and "
                "TWILIO_AUTH_TOKEN."
            )
        code = f", code {exc.code}" if exc.code else ""
        return WiringError(f"Twilio refused the change (HTTP {exc.status}{code}): {exc.msg}")
    return WiringError(describe("twilio", exc).replace("place the call", "change the number"))


def connect(number: str) -> dict[str, Any]:
    client = _client()
    try:
        found = [n for n in client.incoming_phone_numbers.list(phone_number=number, limit=50)]
        match = next((n for n in found if n.phone_number == number), None)
        if match is None:
            raise WiringError(
                f"The Twilio account {settings.TWILIO_ACCOUNT_SID} has no number {number}: buy or port it "
                "in the Twilio console (Phone Numbers), or check the number here and TWILIO_ACCOUNT_SID."
            )
        before = {field: getattr(match, field) or "" for field in FIELDS}
        after = targets()
        if match.voice_application_sid:  # a TwiML App on the number wins over its voice URL
            before["voice_application_sid"] = match.voice_application_sid
            after["voice_application_sid"] = ""
        client.incoming_phone_numbers(match.sid).update(**after)
    except (TwilioException, requests.RequestException) as exc:
        raise _refusal(exc) from exc
    changes = [{"field": f, "before": before[f], "after": after[f]} for f in after]
    return {"resource": match.sid, "number": number, "changes": changes}


def disconnect(link: dict[str, Any]) -> None:
    client = _client()
    previous = {change["field"]: change["before"] for change in link.get("changes", [])}
    try:
        client.incoming_phone_numbers(link["resource"]).update(**previous)
    except (TwilioException, requests.RequestException) as exc:
        raise _refusal(exc) from exc


CONNECTOR = Connector(name="Twilio", connect=connect, disconnect=disconnect)
