"""Twilio `<Dial><Sip>`: send a Twilio call to this SIP endpoint (seed 003's flow).

The Twilio voice webhook (owned by `telephony/twilio/`) answers with this TwiML when the number is
configured for SIP media; Twilio then INVITEs `runsip` and the call runs over SIP + RTP.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from django.conf import settings


def sip_uri(number: str, host: str = "", port: int | None = None, transport: str = "") -> str:
    """`sip:{number}@{SIP_ADVERTISE_HOST}:{SIP_PORT}`; the user part is what `runsip` routes on."""
    host = host or settings.SIP_ADVERTISE_HOST
    if not host:
        raise ValueError("SIP_ADVERTISE_HOST must be set for Twilio to reach runsip")
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    uri = f"sip:{number}@{host}:{port or settings.SIP_PORT}"
    return uri + (f";transport={transport}" if transport else "")


def dial_sip_twiml(
    number: str,
    host: str = "",
    port: int | None = None,
    username: str | None = None,
    password: str | None = None,
    transport: str = "",
) -> str:
    """`<Response><Dial><Sip>sip:{number}@host:port</Sip></Dial></Response>`.

    With digest auth on (`SIP_AUTH_USERNAME`/`SIP_AUTH_PASSWORD`), the credentials go in the
    `<Sip>` attributes so Twilio answers our 401 challenge.
    """
    if username is None:
        username = settings.SIP_AUTH_USERNAME
    if password is None:
        password = settings.SIP_AUTH_PASSWORD
    attrs = ""
    if username and password:
        attrs = f" username={quoteattr(username)} password={quoteattr(password)}"
    uri = escape(sip_uri(number, host, port, transport))
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Sip{attrs}>{uri}</Sip></Dial></Response>'
