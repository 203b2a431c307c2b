"""The built-in tool campaigns provide: `schedule_callback` promises a call back, which the scheduler
places when due. Registered with the engine by `CampaignsConfig.ready()`."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agents.models import E164_RE
from agents.snapshot import ToolConfig
from calls.models import Call
from engine.builtins import parties
from engine.tools import ToolError

if TYPE_CHECKING:
    from engine import CallHandle

log = logging.getLogger(__name__)

CALLBACK_CARRIERS = ("twilio", "plivo", "asterisk")
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
    from campaigns.models import ScheduledCallback

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
    party, ours = parties(handle)
    number = str(args.get("number") or "").strip() or party
    if carrier != "asterisk" and not E164_RE.match(number):
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
