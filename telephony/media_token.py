"""Single-use tokens that let exactly one media WebSocket attach to a Call.

The carrier webhook (signed, so trusted) issues a token and puts it in the stream instructions
(Twilio `<Parameter>`, Plivo `extraHeaders`); the WebSocket, which carries no signature we can rely
on, must present it in its first `start` message. Only a SHA-256 of the token is stored, and
consuming is one conditional UPDATE, so a token works once even with two sockets racing.

A call gets one token in its life (`issue` is a conditional UPDATE too): a replayed voice webhook
gets None and must answer without a stream, so no second stream (a second engine call on one row)
can ever attach. A token opens only a stream of the carrier whose webhook issued it (`Call.carrier`).
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


def issue(call: Call) -> str | None:
    """A fresh token for `call` (its hash stored), or None when the call already had one."""
    token = secrets.token_hex(TOKEN_BYTES)
    digest = _hash(token)
    claimed = Call.objects.filter(pk=call.pk, media_token_hash="").update(
        media_token_hash=digest, media_token_used=False
    )
    if claimed != 1:
        return None
    call.media_token_hash, call.media_token_used = digest, False
    return token


def consume(token: str | None, carrier: str) -> Call | None:
    """The `carrier` Call this token opens, marking the token used; None if missing, malformed,
    unknown, issued for another carrier, already used, stale, or the call is no longer live."""
    if not token or not isinstance(token, str) or not _HEX.match(token):
        return None
    digest = _hash(token)
    claimed = Call.objects.filter(
        media_token_hash=digest,
        carrier=carrier,
        media_token_used=False,
        status__in=Call.LIVE_STATUSES,
        started_at__gte=timezone.now() - MAX_AGE,
    ).update(media_token_used=True)
    if claimed != 1:
        return None
    return Call.objects.select_related("agent").get(media_token_hash=digest)
