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


# --- warm transfer (telephony/plivo/warm.py) -------------------------------------------------------
def brief(text: str, digits_url: str, seconds: int) -> str:
    """The person's leg: the brief, then one key (1 takes the call, 2 declines) posted to `digits_url`.
    With no key after `seconds` the XML goes on to `digits_url` without Digits (answered, no key)."""
    ask = plivoxml.GetDigitsElement(
        action=digits_url, method="POST", timeout=seconds, num_digits=1, valid_digits="12", redirect=True
    )
    ask.add(plivoxml.SpeakElement("Press 1 to take the call, or 2 to decline."))
    return _render(plivoxml.SpeakElement(text), ask, plivoxml.RedirectElement(digits_url, method="POST"))


def no_key() -> str:
    return _render(plivoxml.SpeakElement("No key was pressed. Goodbye."), plivoxml.HangupElement())


def conference(room: str, greeting: str = "") -> str:
    """Join `room`; whoever of caller and person leaves first ends it, so neither is left alone."""
    elements = [plivoxml.SpeakElement(greeting)] if greeting else []
    return _render(*elements, plivoxml.ConferenceElement(room, end_conference_on_exit=True))


def declined() -> str:
    return _render(plivoxml.SpeakElement("Thank you. The caller will be told."), plivoxml.HangupElement())
