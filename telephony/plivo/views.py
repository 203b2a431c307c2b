"""Plivo webhooks: answer (a bidirectional `<Stream>`), hangup, the XML a transfer fetches, and a warm
transfer's person (brief, key, hangup) and conference."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from agents.models import Carrier
from agents.routing import normalise_number, route_number
from calls.models import Call
from telephony import media_token

from . import signature, warm, xml

log = logging.getLogger(__name__)

FINAL_STATUSES = {
    "completed": Call.Status.COMPLETED,
    "busy": Call.Status.BUSY,
    "failed": Call.Status.FAILED,
    "timeout": Call.Status.NO_ANSWER,
    "no-answer": Call.Status.NO_ANSWER,
    "cancel": Call.Status.NO_ANSWER,
}


def _xml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="application/xml")


def public_base(request: HttpRequest) -> str:
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


def stream_url(request: HttpRequest) -> str:
    scheme, rest = public_base(request).split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest + "/ws/plivo/"


def replayed(call_uuid: str, call: Call) -> HttpResponse:
    """An answer webhook for a call that already had its stream token (or ended): a replay. No
    second token, so no second stream; <Hangup/> tells whoever asked not to stream."""
    log.warning(
        "plivo: answer webhook for call %s (%s, %s) replayed: the call already has its stream"
        " token or has ended; answering without a stream",
        call_uuid, call.id, call.status,
    )  # fmt: skip
    return _xml(xml.hangup())


@csrf_exempt
@require_POST
def answer(request: HttpRequest) -> HttpResponse:
    """A call arrived (or an outbound call was answered): bind it to its agent and open the stream."""
    data = signature.params(request)
    if not signature.is_valid(request, data):
        return HttpResponseForbidden("invalid signature")
    call_uuid = str(data.get("CallUUID", ""))
    outbound = data.get("Direction", "inbound") == "outbound"
    ours = str(data.get("From" if outbound else "To", ""))
    route = route_number(Carrier.PLIVO, ours)
    if not route.found:
        log.warning("plivo: call %s to %s refused (%s): apology", call_uuid, ours, route.reason)
        other = str(data.get("To" if outbound else "From", ""))
        Call.record_refused(Carrier.PLIVO, other, ours, call_uuid, route.reason)
        return _xml(xml.apology())
    call = None
    if call_uuid:
        call = (
            Call.objects.filter(carrier=Carrier.PLIVO, carrier_call_id=call_uuid)
            .order_by("-started_at")
            .first()
        )
        if call is not None and call.status not in Call.LIVE_STATUSES:
            return replayed(call_uuid, call)
    if call is None:
        call = Call.objects.create(
            carrier=Carrier.PLIVO,
            direction=Call.Direction.OUTBOUND if outbound else Call.Direction.INBOUND,
            from_number=normalise_number(Carrier.PLIVO, str(data.get("From", ""))),
            to_number=normalise_number(Carrier.PLIVO, str(data.get("To", ""))),
            agent=route.agent,
            carrier_call_id=call_uuid,
            status=Call.Status.RINGING,
        )
    token = media_token.issue(call)
    if token is None:
        return replayed(call_uuid, call)
    log.info(
        "plivo: call %s (%s) for agent %r: stream to %s",
        call_uuid,
        call.id,
        route.agent.name,
        stream_url(request),
    )
    return _xml(xml.stream(stream_url(request), token))


@csrf_exempt
@require_POST
def hangup(request: HttpRequest) -> HttpResponse:
    """The call ended at Plivo. The engine owns live calls; this closes calls whose stream never came."""
    data = signature.params(request)
    if not signature.is_valid(request, data):
        return HttpResponseForbidden("invalid signature")
    call_uuid = str(data.get("CallUUID", ""))
    call_status = str(data.get("CallStatus", "completed"))
    log.info(
        "plivo: hangup callback %s: %s (%s, %ss)",
        call_uuid,
        call_status,
        data.get("HangupCause", "-"),
        data.get("Duration", "-"),
    )
    final = FINAL_STATUSES.get(call_status, Call.Status.COMPLETED)
    if call_uuid:
        Call.objects.filter(
            carrier=Carrier.PLIVO, carrier_call_id=call_uuid, status=Call.Status.RINGING
        ).update(
            status=final,
            ended_at=timezone.now(),
            end_reason=f"plivo: {call_status} before the stream started",
        )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def transfer(request: HttpRequest) -> HttpResponse:
    """XML for a transfer: Plivo fetches it from the `aleg_url` the port gave (`?to=<destination>`)."""
    data = signature.params(request)
    if not signature.is_valid(request, data):
        return HttpResponseForbidden("invalid signature")
    destination = request.GET.get("to", "")
    if not destination:
        return HttpResponseBadRequest("no destination")
    log.info("plivo: transferring %s to %s", data.get("CallUUID", "-"), destination)
    return _xml(xml.dial(destination))


def webhook_urls() -> dict[str, str]:
    """What to paste into the Plivo Application of a number (the URLs "Connect" sets: wiring.targets)."""
    from .wiring import targets

    urls = targets()
    return {"Answer URL (POST)": urls["answer_url"], "Hangup URL (POST)": urls["hangup_url"]}


# --- warm transfer: the person's call and the caller's conference (telephony/plivo/warm.py) -------------
def _signed(request: HttpRequest) -> dict[str, str] | None:
    data = signature.params(request)
    return data if signature.is_valid(request, data) else None


@csrf_exempt
@require_POST
def warm_answer(request: HttpRequest, token: str) -> HttpResponse:
    """The person answered: speak the brief and ask for one key."""
    data = _signed(request)
    if data is None:
        return HttpResponseForbidden("invalid signature")
    state = warm.pending(token)
    if state is None:
        log.warning("plivo: warm transfer %s is over or unknown; hanging up the person", token)
        return _xml(xml.hangup())
    warm.report(token, "answered", call_uuid=str(data.get("CallUUID", "")))
    digits_url = public_base(request) + reverse("plivo-warm-digits", kwargs={"token": token})
    return _xml(xml.brief(state.brief, digits_url, warm.DIGITS_SECONDS))


@csrf_exempt
@require_POST
def warm_digits(request: HttpRequest, token: str) -> HttpResponse:
    """The person's key: 1 joins the conference room (the caller follows), 2 declines; none (the
    brief's <Redirect> after the key timed out): no answer."""
    data = _signed(request)
    if data is None:
        return HttpResponseForbidden("invalid signature")
    state = warm.pending(token)
    person = str(data.get("CallUUID", ""))
    if state is None:
        return _xml(xml.hangup())
    digits = str(data.get("Digits", ""))
    if digits == "1":
        warm.report(token, "accepted", call_uuid=person)
        return _xml(xml.conference(state.room, "Connecting you to the caller."))
    if not digits:  # the <Redirect> after <GetDigits> timed out
        warm.report(token, "nokey", call_uuid=person)
        return _xml(xml.no_key())
    warm.report(token, "declined", call_uuid=person)
    return _xml(xml.declined())


@csrf_exempt
@require_POST
def warm_hangup(request: HttpRequest, token: str) -> HttpResponse:
    """The person's call ended (busy, not answered, or after the brief)."""
    data = _signed(request)
    if data is None:
        return HttpResponseForbidden("invalid signature")
    status = str(data.get("CallStatus", "completed"))
    log.info(
        "plivo: warm transfer %s: the person's call ended: %s (%s)", token, status, data.get("HangupCause")
    )
    warm.report(token, "ended", status=status, cause=str(data.get("HangupCause", "")))
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def warm_conference(request: HttpRequest, token: str) -> HttpResponse:
    """XML the caller's leg fetches when the port transfers it: the room the person is in."""
    data = _signed(request)
    if data is None:
        return HttpResponseForbidden("invalid signature")
    room = request.GET.get("room", "")
    if room != warm.room_for(str(data.get("CallUUID", ""))):
        return HttpResponseBadRequest("no such room for this call")
    return _xml(xml.conference(room))
