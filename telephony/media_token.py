"""Single-use tokens that let exactly one media WebSocket attach to a Call.

The carrier webhook (signed, so trusted) issues a token and puts it in the stream instructions
(Twilio `<Parameter>`, Plivo `extraHeaders`); the WebSocket, which carries no signature we can rely
on, must present it in its first `start` message. Only a SHA-256 of the token is stored, and
consuming is one conditional UPDATE, so a token works once even with two sockets racing.
Sync ORM code: consumers call `consume` through `database_sync_to_async`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from django.utils import timezone

from calls.models import Call

TOKEN_BYTES = 24  # 48 hex characters: Plivo's extraHeaders allow letters and digits only
_HEX = re.compile(r"^[0-9a-f]{32,128}$")
# A carrier opens the stream within seconds of the answer; a token older than this is stale.
MAX_AGE = timedelta(minutes=10)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue(call: Call) -> str:
    """Create a fresh token for `call`, store its hash, and return the token (hex)."""
    token = secrets.token_hex(TOKEN_BYTES)
    call.media_token_hash = _hash(token)
    call.media_token_used = False
    call.save(update_fields=["media_token_hash", "media_token_used"])
    return token


def consume(token: str | None) -> Call | None:
    """The Call this token opens, marking the token used; None if missing, malformed, unknown,
    already used, stale, or the call is no longer live."""
    if not token or not isinstance(token, str) or not _HEX.match(token):
        return None
    digest = _hash(token)
    claimed = Call.objects.filter(
        media_token_hash=digest,
        media_token_used=False,
        status__in=Call.LIVE_STATUSES,
        started_at__gte=timezone.now() - MAX_AGE,
    ).update(media_token_used=True)
    if claimed != 1:
        return None
    return Call.objects.select_related("agent").get(media_token_hash=digest)
