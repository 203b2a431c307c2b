"""API tokens: minting, hashing and checking bearer tokens (only hashes are stored)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from calls.models import ApiToken

TOKEN_PREFIX = "cc_"
# Writing last_used_at on every request would turn reads into writes; once a minute is enough.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint(name: str, created_by=None) -> tuple[ApiToken, str]:
    """Create a token row; return it and the plaintext token (shown once, never stored)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        name=name, prefix=token[:10], token_hash=hash_token(token), created_by=created_by
    )
    return row, token


def lookup(token: str) -> ApiToken | None:
    """The token row for a presented token (revoked or not), or None if unknown."""
    if not token or len(token) > 200:
        return None
    row = ApiToken.objects.filter(token_hash=hash_token(token)).first()
    if row is not None and row.revoked_at is None:
        now = timezone.now()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row
