"""Built-in tools that reach outside the call (`send_sms`, `schedule_callback`) and the outbound
opening (campaign greeting, voicemail), kept here so `call.py` only lists them.

Handlers take the `CallHandle`, the tool and the model's arguments, and raise `ToolError` with a
sentence the model can say. Blocking work (carrier REST, ORM) runs in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents.snapshot import AgentConfig, ToolConfig

from .tools import ToolError

if TYPE_CHECKING:
    from .call import CallHandle

log = logging.getLogger(__name__)

MESSAGING_CARRIERS = ("twilio", "plivo")
CALLBACK_CARRIERS = ("twilio", "plivo", "asterisk")
VOICEMAIL_DONE = "voicemail: message left"
_NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")
_RELATIVE = re.compile(
    r"^(?:in\s+)?(?P<n>\d+(?:\.\d+)?|an?|one|two|three|five|ten|fifteen|twenty|thirty)\s*"
    r"(?P<unit>minutes?|mins?|hours?|hrs?|days?)?(?:\s+from\s+now)?$"
)
_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "five": 5,
    "ten": 10,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
}


# --- the opening of an outbound call --------------------------------------------------------------------
def opening_for(agent: AgentConfig, variables: dict[str, Any]) -> tuple[AgentConfig, str | None]:
    """The agent for this call and, when it should hang up after its first turn, why.

    A machine answered and there is a message: the message is the greeting, then hang up.
    A campaign greeting (`_greeting`) replaces the agent's own.
    """
    if variables.get("_answered_by") == "machine" and variables.get("_voicemail"):
        return agent.with_overrides(
            {"greeting": str(variables["_voicemail"]), "consent_announcement": ""}
        ), VOICEMAIL_DONE
    if variables.get("_greeting"):
        return agent.with_overrides({"greeting": str(variables["_greeting"])}), None
    return agent, None


# --- who is on the other end ----------------------------------------------------------------------------
def _parties(handle: CallHandle) -> tuple[str, str]:
    """(the other party's number, our number) on this call."""
    request = handle.request
    if request.direction == "outbound":
        return request.to_number, request.from_number
    return request.from_number, request.to_number


# --- send_sms -------------------------------------------------------------------------------------------
async def send_sms(handle: CallHandle, tool: ToolConfig, args: dict[str, Any]) -> dict[str, Any]:
    """Text the caller (or `to`) from the number the call is on; other lines use SMS_CARRIER/SMS_FROM."""
    from telephony.messaging import MessagingError
    from telephony.messaging import send_sms as send

    body = str(args.get("body") or "").strip()
    if not body:
        raise ToolError("the message is empty: say what to send")
    party, ours = _parties(handle)
    to = str(args.get("to") or "").strip() or party
    if handle.request.carrier in MESSAGING_CARRIERS:
        carrier, from_ = handle.request.carrier, ours
    elif settings.SMS_CARRIER in MESSAGING_CARRIERS and settings.SMS_FROM:
        carrier, from_ = settings.SMS_CARRIER, settings.SMS_FROM
    else:
        raise ToolError("text messages cannot be sent on this line; offer to read the details out instead")
    if not _NUMBER.match(to):
        raise ToolError(f"{to or 'the caller'} is not a mobile number a text can go to; ask for one")
    try:
        message_id = await asyncio.to_thread(send, carrier, from_, to, body[:1600])
    except MessagingError as exc:
        raise ToolError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the carrier refused: the model says so
        log.warning("send_sms through %s failed: %s", carrier, exc)
        raise ToolError("the text message could not be sent right now") from exc
    log.info("send_sms: %s message %s to %s", carrier, message_id, to)
    return {"sent": True, "to": to, "message_id": message_id}


# --- schedule_callback ----------------------------------------------------------------------------------
def parse_when(text: str, now: datetime) -> datetime:
    """ISO 8601, a number of minutes, or 'in N minutes/hours/days' -> an aware datetime in the future."""
    value = (text or "").strip().lower()
    moment = parse_datetime(value.upper()) if value else None
    if moment is not None:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment
    match = _RELATIVE.match(value)
    if not match:
        raise ToolError(f"could not understand the time {text!r}: ask for a date and time")
    raw = match.group("n")
    amount = float(_WORDS.get(raw, raw))
    unit = (match.group("unit") or "minutes")[0]
    delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
    return now + delta


def _summary(handle: CallHandle, limit: int = 12) -> str:
    lines = [f"{s['speaker']}: {s['text']}" for s in handle.transcript.segments[-limit:] if s.get("text")]
    return " / ".join(lines)[:2000]


def _create_callback(**fields: Any) -> int:
    from telephony.models import Call, ScheduledCallback

    close_old_connections()
    origin = Call.objects.filter(pk=fields.pop("origin_call_id")).first()
    return ScheduledCallback.objects.create(origin_call=origin, **fields).pk


async def schedule_callback(handle: CallHandle, tool: ToolConfig, args: dict[str, Any]) -> dict[str, Any]:
    """Promise a call back: a ScheduledCallback row the scheduler dials when due, same agent, this
    call's context (variables and a transcript summary) as the callback's variables."""
    carrier = handle.request.carrier
    if carrier not in CALLBACK_CARRIERS:
        raise ToolError("callbacks cannot be scheduled from this line; ask the caller to call again")
    now = timezone.now()
    due = parse_when(str(args.get("when") or ""), now)
    if due < now - timedelta(minutes=1):
        raise ToolError("that time is in the past: ask for a later time")
    party, ours = _parties(handle)
    number = str(args.get("number") or "").strip() or party
    if carrier != "asterisk" and not _NUMBER.match(number):
        raise ToolError(f"{number or 'the caller'} is not a number we can call back; ask for one")
    variables = {k: v for k, v in (handle.request.variables or {}).items() if not str(k).startswith("_")}
    context = {
        **variables,
        "first_call_id": str(handle.call_id),
        "first_call_summary": _summary(handle),
        "callback_reason": str(args.get("note") or ""),
    }
    agent_id = handle.agent.agent_id if getattr(handle, "agent", None) else None
    if agent_id is None:
        raise ToolError("callbacks are not available for this agent")
    callback_id = await sync_to_async(_create_callback, thread_sensitive=False)(
        number=number,
        agent_id=agent_id,
        carrier=carrier,
        from_number=ours if carrier != "asterisk" else "",
        due_at=due,
        note=str(args.get("note") or ""),
        context=context,
        origin_call_id=handle.call_id,
    )
    log.info("schedule_callback: %s at %s (callback %s)", number, due.isoformat(), callback_id)
    return {
        "scheduled": True,
        "number": number,
        "when": timezone.localtime(due).isoformat(timespec="minutes"),
    }
