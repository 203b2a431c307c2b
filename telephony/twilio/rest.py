"""Twilio REST calls the bridge makes, through the `twilio` package (blocking: run in a thread).

`TWILIO_API_BASE_URL` points the client at another server (the emulator): the package keeps its
base URL in the plain attribute `client.api.base_url`, read at request time.
"""

from __future__ import annotations

import logging

from django.conf import settings
from twilio.rest import Client

log = logging.getLogger(__name__)


def client() -> Client | None:
    """A configured client, or None when no account is set (then we can only close the stream)."""
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        return None
    twilio = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    if settings.TWILIO_API_BASE_URL:
        twilio.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
    return twilio


def end_call(call_sid: str) -> bool:
    """Hang up `call_sid` (POST Calls/{sid}.json Status=completed). True if Twilio accepted it."""
    twilio = client()
    if twilio is None:
        log.info("twilio: no TWILIO_ACCOUNT_SID/TOKEN; ending %s by closing the stream only", call_sid)
        return False
    twilio.calls(call_sid).update(status="completed")
    return True


def redirect(call_sid: str, twiml: str) -> None:
    """Replace the call's TwiML (ends the stream; used for transfers)."""
    twilio = client()
    if twilio is None:
        raise RuntimeError("TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set")
    twilio.calls(call_sid).update(twiml=twiml)


def dial_person(to: str, from_: str, twiml: str, status_callback: str, ring_seconds: float) -> str:
    """Call the person of a warm transfer with `twiml` (the brief and its <Gather>); the final status
    (busy, no-answer, failed, completed) goes to `status_callback`. Returns the new call's sid."""
    twilio = client()
    if twilio is None:
        raise RuntimeError("TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set")
    call = twilio.calls.create(
        to=to,
        from_=from_,
        twiml=twiml,
        status_callback=status_callback,
        status_callback_method="POST",
        status_callback_event=["completed"],
        timeout=max(5, int(ring_seconds)),
    )
    return call.sid
