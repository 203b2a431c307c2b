"""Plivo XML the webhooks answer, rendered with the `plivo` package's `plivoxml`."""

from __future__ import annotations

from plivo import plivoxml

APOLOGY = "Sorry, this number is not in service. Goodbye."
CONTENT_TYPE = "audio/x-mulaw;rate=8000"  # Plivo's default is L16: u-law must be asked for


def _render(*elements) -> str:
    response = plivoxml.ResponseElement()
    for element in elements:
        response.add(element)
    return response.to_string(False)


def apology() -> str:
    return _render(plivoxml.SpeakElement(APOLOGY), plivoxml.HangupElement())


def hangup() -> str:
    return _render(plivoxml.HangupElement())


def stream(ws_url: str, token: str) -> str:
    """A bidirectional u-law stream that keeps the call up; the token rides in extraHeaders (hex)."""
    return _render(
        plivoxml.StreamElement(
            ws_url,
            bidirectional=True,
            audioTrack="inbound",
            contentType=CONTENT_TYPE,
            extraHeaders=f"token={token}",
            keepCallAlive=True,
        )
    )


def dial(destination: str) -> str:
    dial = plivoxml.DialElement()
    if destination.lower().startswith(("sip:", "sips:")):
        dial.add(plivoxml.UserElement(destination))
    else:
        dial.add(plivoxml.NumberElement(destination))
    return _render(dial)
