"""`X-Twilio-Signature` checks with Twilio's own `RequestValidator`: webhooks and stream upgrades.

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


def stream_url(base: str, path: str) -> str:
    """The ws(s):// form of `base` + `path`: what a `<Stream url>` names and Twilio signs on the upgrade."""
    scheme, rest = base.split("://", 1)
    return ("wss" if scheme in ("https", "wss") else "ws") + "://" + rest + path


def stream_is_valid(scope: dict) -> bool:
    """False when a Media Stream upgrade carries an `X-Twilio-Signature` that does not match.

    Twilio signs the upgrade over the wss:// URL with no parameters (reference §2; its Media Streams
    firewall page asks apps to validate it). The https:// spelling of the same URL is accepted too,
    since only reports say which one Twilio signs. An upgrade without the header is left to the
    media token every stream must present in `start`.
    """
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    signature = headers.get("x-twilio-signature", "")
    if not signature:
        return True
    query = scope.get("query_string", b"").decode("latin-1")
    path = scope["path"] + (f"?{query}" if query else "")
    base = settings.PUBLIC_BASE_URL or f"{scope.get('scheme', 'ws')}://{headers.get('host', '')}"
    url = stream_url(base, path)
    token = settings.TWILIO_AUTH_TOKEN
    http_url = url.replace("ws", "http", 1)
    if token and any(RequestValidator(token).validate(u, {}, signature) for u in (url, http_url)):
        return True
    log.warning("twilio: stream upgrade to %s with a bad X-Twilio-Signature refused (403)", url)
    return False
