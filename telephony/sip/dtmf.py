"""DTMF carried in SIP INFO bodies, as trunks and PBXes send it instead of (or besides) RFC 4733.

Two body types are in use: `application/dtmf-relay` (Cisco style, `Signal=5` and `Duration=160`
lines) and `application/dtmf` (the body is the digit alone). Both give the engine the same digit.
"""

from __future__ import annotations

import re

DIGITS = "0123456789*#ABCD"
_SIGNAL = re.compile(r"Signal\s*=\s*([0-9A-Da-d*#])")


def info_digit(content_type: str, body: bytes) -> str | None:
    """The digit an INFO request carries, or None when it is not a DTMF INFO we understand."""
    kind = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace").strip()
    if "dtmf" not in kind:
        return None
    match = _SIGNAL.search(text)  # dtmf-relay (and the odd application/dtmf written the same way)
    if match:
        return match.group(1).upper()
    if kind == "application/dtmf" and len(text) == 1 and text.upper() in DIGITS:
        return text.upper()
    return None
