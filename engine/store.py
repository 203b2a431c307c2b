"""The engine's database and file work, run in worker threads, never on the event loop."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from agents.routing import route_agent, route_extension, route_number
from agents.snapshot import AgentConfig, snapshot
from calls import recovery
from calls.models import Call

from . import presence
from .port import CallRequest

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    call_id: uuid.UUID
    agent: AgentConfig | None
    refusal: str = ""  # "", "unknown_number", "busy"
    prompt: str = ""  # the pre-rendered prompt a refused caller hears
    answered_at: datetime | None = None  # as stored on the row (never before its started_at)


def _prepare(request: CallRequest) -> Prepared:
    close_old_connections()
    call = Call.objects.filter(pk=request.call_id).first() if request.call_id else None
    # Variables set when the call was placed (campaign fields, callback context).
    if call is not None and call.variables:
        request.variables = {**call.variables, **request.variables}
    if call is not None and call.direction == Call.Direction.OUTBOUND and call.agent_id:
        # An outbound call names its agent: the callee's number routes nowhere.
        route = route_agent(call.agent_id, "outbound")
    elif request.carrier == "asterisk":
        route = route_extension(request.context, request.extension)
    elif request.carrier in ("browser", "test"):  # staff test calls name their agent: no number
        route = route_agent(request.variables.get("agent_id"), "direct")
    else:
        route = route_number(request.carrier, request.to_number or (call.to_number if call else ""))
    if call is None:
        call = Call(
            id=request.call_id or uuid.uuid4(),
            carrier=request.carrier,
            direction=request.direction,
            from_number=request.from_number,
            to_number=request.to_number or request.extension,
            carrier_call_id=request.carrier_call_id,
            variables=request.variables,
        )
    elif request.carrier_call_id and not call.carrier_call_id:
        call.carrier_call_id = request.carrier_call_id
    if route.agent is None:
        call.status, call.end_reason, call.ended_at = (
            Call.Status.REFUSED,
            f"no agent ({route.reason})",
            timezone.now(),
        )
        call.save()
        return Prepared(call.pk, None, "unknown_number", "apology")
    draft = request.carrier == "test" and bool(request.variables.get("_draft"))  # testagent --version draft
    agent = snapshot(route.agent, draft=draft)
    call.agent = route.agent
    call.agent_version_id = None if draft else route.agent.published_version_id
    call.agent_snapshot = agent.to_json()
    busy = (
        Call.objects.filter(agent=route.agent, status=Call.Status.IN_PROGRESS).exclude(pk=call.pk).count()
        >= agent.max_concurrent_calls
    )
    if busy:
        call.status, call.end_reason, call.ended_at = (
            Call.Status.REFUSED,
            "agent at its concurrent-call cap",
            timezone.now(),
        )
        call.save()
        log.warning("agent %r is at its cap of %d calls: refusing", agent.name, agent.max_concurrent_calls)
        return Prepared(call.pk, agent, "busy", "busy")
    recovery.heartbeat(presence.PROCESS_NAME)  # the process row exists before a call names it
    call.status, call.answered_at, call.process = (
        Call.Status.IN_PROGRESS,
        timezone.now(),
        presence.PROCESS_NAME,
    )
    call.save()
    if call.started_at > call.answered_at:  # a new row starts as it is saved: it is answered then, not before
        call.answered_at = call.started_at
        Call.objects.filter(pk=call.pk).update(answered_at=call.answered_at)
    return Prepared(call.pk, agent, answered_at=call.answered_at)


prepare = sync_to_async(_prepare, thread_sensitive=False)


def _mark_failed(call_id: uuid.UUID, reason: str) -> None:
    close_old_connections()
    Call.objects.filter(pk=call_id).update(
        status=Call.Status.FAILED, end_reason=reason, ended_at=timezone.now()
    )


mark_failed = sync_to_async(_mark_failed, thread_sensitive=False)
