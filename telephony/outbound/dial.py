"""`place_call`: one function for every carrier, used by the API, the admin and the scheduler.

Sync code (ORM and the carriers' blocking REST clients): call it from a view, a Celery task or a
thread, never from the event loop.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from agents.models import E164_RE, Carrier, PhoneNumber
from agents.routing import Route, route_agent
from calls.models import Call
from calls.signals import call_finished

from .failures import describe

log = logging.getLogger(__name__)

OUTBOUND_CARRIERS = (Carrier.TWILIO, Carrier.PLIVO, Carrier.ASTERISK)
# Asterisk channel ids we choose for originated calls: the call id rides in it, so a ChannelDestroyed
# for a call that never entered Stasis (busy, no answer) still finds its Call.
ASTERISK_CHANNEL_PREFIX = "cc-out-"
# Call.variables keys the engine reads (not shown to the model as campaign fields).
GREETING_KEY = "_greeting"
VOICEMAIL_KEY = "_voicemail"
ANSWERED_BY_KEY = "_answered_by"
_ASTERISK_NUMBER = re.compile(r"^\+?[0-9A-Za-z*#._-]{1,64}$")


class OutboundError(Exception):
    """The call could not be placed; `field` names the bad input when it is the caller's fault."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _public_base() -> str:
    base = settings.PUBLIC_BASE_URL
    if not base:
        raise OutboundError("PUBLIC_BASE_URL is not set: the carrier could not reach our answer webhook")
    return base


def default_from(agent, carrier: str) -> str:
    """The agent's first active number on the carrier: the caller ID when none is given."""
    return (
        PhoneNumber.objects.filter(agent=agent, carrier=carrier, is_active=True)
        .order_by("id")
        .values_list("number", flat=True)
        .first()
        or ""
    )


def number_problem(carrier: str, to: str) -> str:
    """Why `to` cannot be dialled on `carrier` ("" if it can): the rule the form, the API and a
    campaign's CSV upload share (E.164 on Twilio and Plivo, as the phone-number form requires)."""
    if carrier in (Carrier.TWILIO, Carrier.PLIVO):
        if not E164_RE.match(to):
            return f'"{to}" is not an E.164 number (e.g. +14155550100)'
    elif not _ASTERISK_NUMBER.match(to):
        return f'"{to}" is not a number or extension Asterisk can dial'
    return ""


def _check(agent, carrier: str, to: str, from_: str) -> tuple[str, str]:
    if agent is None or not getattr(agent, "is_active", False):
        raise OutboundError("the agent does not exist or is not active", "agent")
    if carrier not in OUTBOUND_CARRIERS:
        raise OutboundError(f"carrier must be one of {', '.join(OUTBOUND_CARRIERS)}", "carrier")
    to = (to or "").strip()
    from_ = (from_ or "").strip() or default_from(agent, carrier)
    problem = number_problem(carrier, to)
    if problem:
        raise OutboundError(problem, "to")
    if carrier in (Carrier.TWILIO, Carrier.PLIVO):
        if not E164_RE.match(from_):
            raise OutboundError(
                "no caller ID: give an E.164 'from' or bind a number of this carrier to the agent", "from"
            )
    return to, from_


def place_call(
    agent,
    carrier: str,
    to: str,
    from_: str = "",
    variables: dict[str, Any] | None = None,
    on_created: Callable[[Call], object] | None = None,
    detect_machines: bool = False,
) -> Call:
    """Create the outbound Call (ringing) and have the carrier dial it. Raises OutboundError.

    `on_created` sees the Call before the carrier is asked (a campaign links its contact to it, so a
    refused dial is still that contact's last call).
    """
    to, from_ = _check(agent, carrier, to, from_)
    call = Call.objects.create(
        carrier=carrier,
        direction=Call.Direction.OUTBOUND,
        from_number=from_,
        to_number=to,
        agent=agent,
        status=Call.Status.RINGING,
        variables=dict(variables or {}),
    )
    if on_created is not None:
        on_created(call)
    try:
        carrier_id = DIALLERS[carrier](call, detect_machines)
    except Exception as exc:  # noqa: BLE001 - any carrier refusal ends this call as failed
        message = exc.message if isinstance(exc, OutboundError) else describe(carrier, exc)
        log.warning("outbound: %s call to %s failed: %s (%r)", carrier, to, message, exc)
        Call.objects.filter(pk=call.pk).update(
            status=Call.Status.FAILED, ended_at=timezone.now(), end_reason=message[:100]
        )
        call.refresh_from_db()
        raise OutboundError(message) from exc
    # The answer webhook may already have set the carrier's final id: don't overwrite it.
    Call.objects.filter(pk=call.pk, carrier_call_id="").update(carrier_call_id=carrier_id)
    call.refresh_from_db()
    log.info("outbound: %s call %s to %s placed (%s)", carrier, call.pk, to, carrier_id)
    return call


def _url(name: str, call: Call) -> str:
    return f"{_public_base()}{reverse(name)}?call={call.pk}"


def _dial_twilio(call: Call, detect_machines: bool) -> str:
    from telephony.twilio import rest

    client = rest.client()
    if client is None:
        raise OutboundError("TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN are not set")
    kwargs: dict[str, Any] = {
        "to": call.to_number,
        "from_": call.from_number,
        "url": _url("outbound-twilio-answer", call),
        "method": "POST",
        "status_callback": _url("outbound-twilio-status", call),
        "status_callback_event": ["initiated", "ringing", "answered", "completed"],
        "status_callback_method": "POST",
        "timeout": settings.OUTBOUND_RING_TIMEOUT,
    }
    if detect_machines:
        # Synchronous AMD that waits for the greeting's beep: the answer webhook carries AnsweredBy.
        kwargs["machine_detection"] = "DetectMessageEnd"
    return client.calls.create(**kwargs).sid


def _dial_plivo(call: Call, detect_machines: bool) -> str:
    from telephony.plivo import rest

    client = rest.client()
    if client is None:
        raise OutboundError("PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN are not set")
    kwargs: dict[str, Any] = {
        "from_": call.from_number,
        "to_": call.to_number,
        "answer_url": _url("outbound-plivo-answer", call),
        "answer_method": "POST",
        "hangup_url": _url("outbound-plivo-hangup", call),
        "hangup_method": "POST",
        "ring_timeout": settings.OUTBOUND_RING_TIMEOUT,
    }
    if detect_machines:
        # Plivo reports the result asynchronously to machine_detection_url while the call runs.
        kwargs.update(
            machine_detection="true",
            machine_detection_url=_url("outbound-plivo-machine", call),
            machine_detection_method="POST",
        )
    response = client.calls.create(**kwargs)
    return str(getattr(response, "request_uuid", "") or "")


def asterisk_endpoint(number: str) -> str:
    return settings.ASTERISK_DIAL_ENDPOINT.format(number=number)


def _dial_asterisk(call: Call, detect_machines: bool) -> str:
    """ARI originate into our Stasis app; appArgs mark it outbound and carry the call id."""
    channel_id = f"{ASTERISK_CHANNEL_PREFIX}{call.pk}"
    params = {
        "endpoint": asterisk_endpoint(call.to_number),
        "app": settings.ARI_APP,
        "appArgs": f"outbound,{call.pk}",
        "channelId": channel_id,
        "timeout": str(settings.OUTBOUND_RING_TIMEOUT),
    }
    if call.from_number:
        params["callerId"] = call.from_number
    response = httpx.post(
        settings.ARI_URL.rstrip("/") + "/channels",
        params=params,
        auth=(settings.ARI_USERNAME, settings.ARI_PASSWORD),
        timeout=10,
        trust_env=False,
    )
    if response.status_code >= 400:
        try:
            message = response.json().get("message", "")
        except ValueError:
            message = response.text[:100]
        raise OutboundError(f"Asterisk refused the originate (HTTP {response.status_code}): {message}")
    return channel_id


DIALLERS = {Carrier.TWILIO: _dial_twilio, Carrier.PLIVO: _dial_plivo, Carrier.ASTERISK: _dial_asterisk}


def route_call(call_id: uuid.UUID | str) -> Route:
    """The agent of an outbound call: the one named on its Call row (sync ORM)."""
    agent_id = Call.objects.filter(pk=call_id).values_list("agent_id", flat=True).first()
    return route_agent(agent_id, "outbound")


def asterisk_call_id(channel_id: str) -> str:
    """The Call id inside an originated channel's id, or ''."""
    return (
        channel_id[len(ASTERISK_CHANNEL_PREFIX) :] if channel_id.startswith(ASTERISK_CHANNEL_PREFIX) else ""
    )


ASTERISK_CAUSES = {
    17: Call.Status.BUSY,
    18: Call.Status.NO_ANSWER,
    19: Call.Status.NO_ANSWER,
    21: Call.Status.BUSY,
}


def record_unanswered(call_id: str, status: str, reason: str) -> bool:
    """A dialled call ended before it was answered (busy, no answer, failed): close its Call and settle
    its campaign contact. Only a ringing Call changes, so a late or repeated report is harmless."""
    changed = Call.objects.filter(pk=call_id, status=Call.Status.RINGING).update(
        status=status, ended_at=timezone.now(), end_reason=reason[:100]
    )
    call_finished.send(sender=Call, call_id=call_id)
    return bool(changed)
