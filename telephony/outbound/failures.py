"""A carrier's refusal or an unreachable carrier, said in one readable line (the form and end reason).

A raw exception ("HTTPSConnectionPool(host='api.twilio.com'... NameResolutionError") tells an operator
nothing; this says which address could not be reached or what the carrier answered, and which
setting to check. Kept under 100 characters when it can be: it is also the call's `end_reason`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import requests
from django.conf import settings

_DEFAULT_BASES = {"twilio": "https://api.twilio.com", "plivo": "https://api.plivo.com"}
_BASE_SETTINGS = {"twilio": "TWILIO_API_BASE_URL", "plivo": "PLIVO_API_BASE_URL", "asterisk": "ARI_URL"}
_NAMES = {"twilio": "Twilio", "plivo": "Plivo", "asterisk": "Asterisk"}


def _host(carrier: str) -> str:
    base = getattr(settings, _BASE_SETTINGS.get(carrier, ""), "") or _DEFAULT_BASES.get(carrier, "")
    parts = urlsplit(base)
    return parts.netloc or base or carrier


def _why_unreachable(exc: BaseException) -> str:
    text = repr(exc)
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return "name not resolved"
    if isinstance(exc, requests.Timeout | httpx.TimeoutException) or "timed out" in text:
        return "no answer in time"
    if "refused" in text.lower():
        return "connection refused"
    return "no connection"


def _hint(carrier: str) -> str:
    if carrier == "asterisk":
        return "Is ARI_URL right and Asterisk (or asterisk_emulator) running?"
    return f"Is {_BASE_SETTINGS[carrier]} set to the emulator?"


def describe(carrier: str, exc: BaseException) -> str:
    """One line for a failed dial: unreachable (with the setting to check) or the carrier's answer."""
    name = _NAMES.get(carrier, carrier)
    if isinstance(exc, requests.ConnectionError | requests.Timeout | httpx.TransportError):
        return f"Could not reach {_host(carrier)}: {_why_unreachable(exc)}. {_hint(carrier)}"
    from twilio.base.exceptions import TwilioRestException

    if isinstance(exc, TwilioRestException):
        code = f", code {exc.code}" if exc.code else ""
        return f"{name} refused the call (HTTP {exc.status}{code}): {exc.msg}"
    from plivo import exceptions as plivo_errors

    if isinstance(exc, plivo_errors.AuthenticationError):
        return f"{name} refused our credentials (PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN)"
    if isinstance(exc, plivo_errors.PlivoRestError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{name} refused the call: {first[:200]}"
    return f"{name} could not place the call ({type(exc).__name__}); the log has the details"
