"""`X-Twilio-Signature` checks with Twilio's own `RequestValidator`.

Twilio signs the URL it requested. Behind a reverse proxy the app sees another scheme/host, so the
URL is rebuilt from `PUBLIC_BASE_URL` (the address configured in Twilio's console); only when that
is unset do we trust the request's own absolute URI.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


def public_url(request: HttpRequest) -> str:
    """The URL the carrier requested, as it sees it."""
    base = settings.PUBLIC_BASE_URL
    return base + request.get_full_path() if base else request.build_absolute_uri()


def is_valid(request: HttpRequest) -> bool:
    """True when the request carries a valid signature; logs why not otherwise."""
    token = settings.TWILIO_AUTH_TOKEN
    url = public_url(request)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token:
        log.error("twilio: TWILIO_AUTH_TOKEN is not set; refusing %s (cannot check signatures)", url)
        return False
    if not signature:
        log.warning("twilio: request to %s without X-Twilio-Signature refused (403)", url)
        return False
    params = request.POST if request.method == "POST" else {}
    if not RequestValidator(token).validate(url, params, signature):
        log.warning("twilio: bad X-Twilio-Signature for %s refused (403); check PUBLIC_BASE_URL", url)
        return False
    return True
