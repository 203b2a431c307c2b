"""Blind transfer by REFER (RFC 3515): where to refer the caller, and reading the trunk's progress.

The engine's `transfer_call` gives a number or a SIP URI. A number goes back to the trunk that sent
the call (`sip:<number>@<host[:port] of the dialog's remote target>`), since that trunk is what can
dial it; `SIP_TRANSFER_DOMAIN` names another host when the trunk wants its own domain. The trunk's
NOTIFYs carry `message/sipfrag` bodies (`SIP/2.0 180 Ringing`, `SIP/2.0 200 OK`) that say how the
new call is going.
"""

from __future__ import annotations

import re

from .message import SipParseError, parse_uri

_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_SIPFRAG = re.compile(rb"^\s*SIP/2\.0\s+([1-6]\d\d)\b\s*([^\r\n]*)")


class BadDestination(ValueError):
    """A destination we cannot turn into a Refer-To URI; the message is for the model to say."""


def refer_target(destination: str, remote_target: str, domain: str = "") -> str:
    """The Refer-To URI for `destination` (E.164 number, tel: URI or sip:/sips: URI)."""
    destination = destination.strip()
    if destination.lower().startswith(("sip:", "sips:")):
        try:
            uri = parse_uri(destination)
        except SipParseError as exc:
            raise BadDestination(f"{destination!r} is not a valid SIP address") from exc
        if not uri.host:
            raise BadDestination(f"{destination!r} has no host")
        return destination
    if destination.lower().startswith("tel:"):
        destination = destination[4:].split(";", 1)[0]
    number = re.sub(r"[\s().\-]", "", destination)
    if not _NUMBER.match(number):
        raise BadDestination(f"{destination!r} is neither a phone number nor a SIP address")
    if not domain:
        uri = parse_uri(remote_target)
        host = f"[{uri.host}]" if ":" in uri.host else uri.host
        domain = f"{host}:{uri.port}" if uri.port else host
    return f"sip:{number}@{domain}"


def sipfrag_status(body: bytes) -> tuple[int, str] | None:
    """(status, reason) of a `message/sipfrag` status line, or None if the body has none."""
    match = _SIPFRAG.match(body)
    if not match:
        return None
    return int(match.group(1)), match.group(2).decode("utf-8", "replace").strip()


def refusal(status: int, reason: str) -> str:
    """Why the trunk would not take the transfer, worded for the model to tell the caller."""
    line = f"{status} {reason}".strip()
    if status in (405, 501):
        return f"this phone line does not support transfers ({line})"
    if status in (403, 603):
        return f"the phone system declined the transfer ({line})"
    if status in (404, 484, 485, 604):
        return f"the transfer destination is not reachable ({line})"
    return f"the phone system refused the transfer ({line})"
