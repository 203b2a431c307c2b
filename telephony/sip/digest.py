"""Digest authentication as a UAS (RFC 2617, RFC 8760 for SHA-256).

Trunks that require us to challenge them (Twilio `<Sip username= password=>`, most SIP providers)
answer a 401 with an `Authorization` header. Nonces are stateless: a timestamp signed with an
HMAC of a per-process secret, so any message can be checked without a nonce table, and an old nonce
gets `stale=true` (the client retries without asking the user again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from .message import split_list

NONCE_LIFETIME = 300.0
_HASHES = {
    "MD5": hashlib.md5,
    "MD5-SESS": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-256-SESS": hashlib.sha256,
}


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode()).hexdigest()


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """`Digest a="b", c=d` -> ("digest", {"a": "b", "c": "d"})."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    for item in split_list(rest):
        name, eq, val = item.partition("=")
        if not eq:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        params[name.strip().lower()] = val
    return scheme.lower(), params


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str = "",
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The `response` value both sides compute (RFC 2617 §3.2.2, RFC 8760 §2)."""
    algorithm = algorithm.upper()
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = _h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


@dataclass
class AuthResult:
    ok: bool
    stale: bool = False
    reason: str = ""


class DigestAuthenticator:
    """Challenges requests and checks answers against one configured username and password."""

    def __init__(self, username: str, password: str, realm: str, secret: bytes | None = None) -> None:
        self.username = username
        self.password = password
        self.realm = realm
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def new_nonce(self) -> str:
        stamp = f"{time.time():.3f}"
        return base64.b64encode(f"{stamp}:{self._sign(stamp)}".encode()).decode().rstrip("=")

    def _nonce_age(self, nonce: str) -> float | None:
        try:
            decoded = base64.b64decode(nonce + "=" * (-len(nonce) % 4)).decode()
            stamp, signature = decoded.split(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(signature, self._sign(stamp)):
            return None
        return time.time() - float(stamp)

    def challenge(self, stale: bool = False) -> str:
        """The `WWW-Authenticate` value of a 401 (MD5: every SIP client speaks it)."""
        value = f'Digest realm="{self.realm}", nonce="{self.new_nonce()}", algorithm=MD5, qop="auth"'
        return value + (", stale=true" if stale else "")

    def check(self, method: str, header: str) -> AuthResult:
        """Check an `Authorization` header value for a request with `method`."""
        if not header:
            return AuthResult(False, reason="no credentials")
        scheme, params = parse_auth_params(header)
        if scheme != "digest":
            return AuthResult(False, reason=f"scheme {scheme!r} is not Digest")
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in _HASHES:
            return AuthResult(False, reason=f"algorithm {algorithm} not supported")
        if params.get("username") != self.username or params.get("realm") != self.realm:
            return AuthResult(False, reason="unknown username or realm")
        nonce = params.get("nonce", "")
        age = self._nonce_age(nonce)
        if age is None:
            return AuthResult(False, reason="nonce not issued by us")
        qop = params.get("qop", "")
        if qop and qop != "auth":
            return AuthResult(False, reason=f"qop {qop} not supported")
        expected = digest_response(
            algorithm=algorithm,
            username=self.username,
            realm=self.realm,
            password=self.password,
            method=method,
            uri=params.get("uri", ""),
            nonce=nonce,
            qop=qop,
            nc=params.get("nc", ""),
            cnonce=params.get("cnonce", ""),
        )
        if not hmac.compare_digest(expected, params.get("response", "").lower()):
            return AuthResult(False, reason="wrong password")
        if age > NONCE_LIFETIME:
            return AuthResult(False, stale=True, reason="nonce expired")
        return AuthResult(True)
