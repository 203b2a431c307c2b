"""The signature on every request we send to an agent's own webhooks (configuration, tools, post-call)."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the body with the webhook's secret: the `X-Signature` header."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
