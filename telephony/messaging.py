"""Text messages through the carriers' own REST clients (blocking: run in a thread).

Twilio `messages.create(to, from_, body)` and Plivo `messages.create(src, dst, text)`; the clients
point at the emulators through TWILIO_API_BASE_URL / PLIVO_API_BASE_URL like the voice calls do.
"""

from __future__ import annotations

import logging

from agents.models import Carrier

log = logging.getLogger(__name__)

SMS_CARRIERS = (Carrier.TWILIO, Carrier.PLIVO)


class MessagingError(Exception):
    """The message was not sent; the text says why in words the agent can repeat."""


def send_sms(carrier: str, from_: str, to: str, body: str) -> str:
    """Send `body` from `from_` to `to`; returns the carrier's message id."""
    if carrier == Carrier.TWILIO:
        from .twilio import rest

        client = rest.client()
        if client is None:
            raise MessagingError("Twilio messaging is not configured")
        message = client.messages.create(to=to, from_=from_, body=body)
        return message.sid
    if carrier == Carrier.PLIVO:
        from .plivo import rest

        client = rest.client()
        if client is None:
            raise MessagingError("Plivo messaging is not configured")
        response = client.messages.create(src=from_, dst=to, text=body)
        uuids = getattr(response, "message_uuid", None) or []
        return str(uuids[0] if isinstance(uuids, list) and uuids else uuids)
    raise MessagingError(f"text messages cannot be sent through {carrier}")
