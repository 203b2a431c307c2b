"""`X-Plivo-Signature-V3` checks with Plivo's own `validate_v3_signature`, and nonce replay checks.

Plivo signs the URL it requested; behind a reverse proxy it is rebuilt from `PUBLIC_BASE_URL`
(falling back to the request's absolute URI when unset).

V3 signs a random nonce with the URL and parameters but carries no timestamp, so a captured request
would stay valid for ever. The nonce of every correctly signed request is remembered in Django's
cache (Redis in production, shared by every web process) for `NONCE_TTL_SECONDS`, and a second
request with it is refused. Only correctly signed requests are remembered: a forger cannot burn
nonces Plivo will use. Past the window a replay still meets the answer view's one-token-per-call.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from plivo.utils.signature_v3 import validate_v3_signature

log = logging.getLogger(__name__)

NONCE_TTL_SECONDS = 24 * 3600  # a carrier retry or a replay comes within hours, not days


def _first_use(nonce: str) -> bool:
    """True the first time a nonce is seen within the window (an atomic add: SET NX on Redis).

    With the cache unreachable it answers True and logs: refusing every Plivo call while Redis is
    down would drop callers, and a replay still gets no second media token."""
    key = "plivo-nonce:" + hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()
    try:
        return cache.add(key, 1, timeout=NONCE_TTL_SECONDS)
    except Exception:  # noqa: BLE001 - redis-py's ConnectionError and friends
        log.error("plivo: cannot reach the cache to check the signature nonce; accepting it", exc_info=True)
        return True


def public_url(request: HttpRequest) -> str:
    base = settings.PUBLIC_BASE_URL
    return base + request.get_full_path() if base else request.build_absolute_uri()


def params(request: HttpRequest) -> dict[str, str]:
    """The callback's parameters: form-encoded by default, JSON accepted (Plivo's own samples use it)."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return {str(k): v for k, v in body.items()} if isinstance(body, dict) else {}
    return request.POST.dict()


def is_valid(request: HttpRequest, data: dict[str, str]) -> bool:
    """True when any signature in the V3 header matches; logs why not otherwise."""
    token = settings.PLIVO_AUTH_TOKEN
    url = public_url(request)
    signature = request.headers.get("X-Plivo-Signature-V3", "")
    nonce = request.headers.get("X-Plivo-Signature-V3-Nonce", "")
    if not token:
        log.error("plivo: PLIVO_AUTH_TOKEN is not set; refusing %s (cannot check signatures)", url)
        return False
    if not signature or not nonce:
        log.warning("plivo: request to %s without X-Plivo-Signature-V3 / nonce refused (403)", url)
        return False
    method = "GET" if request.method == "GET" else "POST"
    try:
        ok = validate_v3_signature(method, url, nonce, token, signature, dict(data))
    except Exception:  # noqa: BLE001 - the SDK's argument validators raise on odd input
        ok = False
    if not ok:
        log.warning("plivo: bad X-Plivo-Signature-V3 for %s refused (403); check PUBLIC_BASE_URL", url)
        return False
    if not _first_use(nonce):
        log.warning("plivo: replayed X-Plivo-Signature-V3-Nonce for %s refused (403)", url)
        return False
    return True
