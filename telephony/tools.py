"""The built-in tools a carrier provides: `send_sms` texts the other party through Twilio or Plivo.

Registered with the engine by `TelephonyConfig.ready()`; the engine never imports a carrier.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings

from agents.models import E164_RE
from agents.snapshot import ToolConfig
from engine.builtins import parties
from engine.tools import ToolError

from .messaging import MessagingError
from .messaging import send_sms as send

if TYPE_CHECKING:
    from engine import CallHandle

log = logging.getLogger(__name__)

MESSAGING_CARRIERS = ("twilio", "plivo")


# --- send_sms -------------------------------------------------------------------------------------------
async def send_sms(handle: CallHandle, tool: ToolConfig, args: dict[str, Any]) -> dict[str, Any]:
    """Text the caller (or `to`) from the number the call is on; other lines use SMS_CARRIER/SMS_FROM."""
    body = str(args.get("body") or "").strip()
    if not body:
        raise ToolError("the message is empty: say what to send")
    party, ours = parties(handle)
    to = str(args.get("to") or "").strip() or party
    if handle.request.carrier in MESSAGING_CARRIERS:
        carrier, from_ = handle.request.carrier, ours
    elif settings.SMS_CARRIER in MESSAGING_CARRIERS and settings.SMS_FROM:
        carrier, from_ = settings.SMS_CARRIER, settings.SMS_FROM
    else:
        raise ToolError("text messages cannot be sent on this line; offer to read the details out instead")
    if not E164_RE.match(to):
        raise ToolError(f"{to or 'the caller'} is not a mobile number a text can go to; ask for one")
    try:
        message_id = await asyncio.to_thread(send, carrier, from_, to, body[:1600])
    except MessagingError as exc:
        raise ToolError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the carrier refused: the model says so
        log.warning("send_sms through %s failed: %s", carrier, exc)
        raise ToolError("the text message could not be sent right now", retryable=True) from exc
    log.info("send_sms: %s message %s to %s", carrier, message_id, to)
    return {"sent": True, "to": to, "message_id": message_id}
