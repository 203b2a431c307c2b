"""Twilio webhooks: the voice URL (answers with `<Connect><Stream>`) and the status callback."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from agents.models import Carrier
from agents.routing import normalise_number, route_number
from calls.models import Call
from telephony import media_token
from telephony.sip.twiml import dial_sip_twiml

from . import handoff, signature, twiml

log = logging.getLogger(__name__)

# Final CallStatus values and what they mean for a call whose stream never started.
FINAL_STATUSES = {
    "completed": Call.Status.COMPLETED,
    "busy": Call.Status.BUSY,
    "failed": Call.Status.FAILED,
    "no-answer": Call.Status.NO_ANSWER,
    "canceled": Call.Status.NO_ANSWER,
}


def _xml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml")


def stream_url(request: HttpRequest) -> str:
    """ws(s):// URL of the media consumer, on the public host."""
    base = settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")
    return signature.stream_url(base, "/ws/twilio/")


def _replayed(call_sid: str, call: Call, outbound: bool) -> HttpResponse:
    """A voice webhook for a call that already had its stream token (or ended): a replay. No
    second token, so no second stream; <Reject/> (<Hangup/> on an outbound leg, which cannot be
    rejected) tells whoever asked not to stream."""
    log.warning(
        "twilio: voice webhook for call %s (%s, %s) replayed: the call already has its stream"
        " token or has ended; answering without a stream",
        call_sid, call.id, call.status,
    )  # fmt: skip
    return _xml(twiml.hangup() if outbound else twiml.reject())


@csrf_exempt
@require_POST
def voice(request: HttpRequest) -> HttpResponse:
    """A call arrived (or an outbound call was answered): bind it to its agent and open the stream."""
    if not signature.is_valid(request):
        return HttpResponseForbidden("invalid signature")
    data = request.POST
    call_sid = data.get("CallSid", "")
    outbound = data.get("Direction", "inbound").startswith("outbound")
    ours = data.get("From", "") if outbound else data.get("To", "")
    route = route_number(Carrier.TWILIO, ours)
    if not route.found:
        log.warning("twilio: call %s to %s refused (%s): apology", call_sid, ours, route.reason)
        other = data.get("To", "") if outbound else data.get("From", "")
        Call.record_refused(Carrier.TWILIO, other, ours, call_sid, route.reason)
        return _xml(twiml.apology())
    if not outbound and route.number and route.number.twilio_media == "sip":
        # Seed 003's flow: Twilio INVITEs runsip, which answers with the same agent over SIP + RTP.
        try:
            body = dial_sip_twiml(route.number.number)
        except ValueError as exc:
            log.error("twilio: number %s is set to SIP media but %s; answering with the stream", ours, exc)
        else:
            log.info("twilio: call %s to %s sent to runsip with <Dial><Sip>", call_sid, ours)
            return _xml(body)
    call = None
    if call_sid:
        call = (
            Call.objects.filter(carrier=Carrier.TWILIO, carrier_call_id=call_sid)
            .order_by("-started_at")
            .first()
        )
        if call is not None and call.status not in Call.LIVE_STATUSES:
            return _replayed(call_sid, call, outbound)
    if call is None:
        call = Call.objects.create(
            carrier=Carrier.TWILIO,
            direction=Call.Direction.OUTBOUND if outbound else Call.Direction.INBOUND,
            from_number=normalise_number(Carrier.TWILIO, data.get("From", "")),
            to_number=normalise_number(Carrier.TWILIO, data.get("To", "")),
            agent=route.agent,
            carrier_call_id=call_sid,
            status=Call.Status.RINGING,
        )
    token = media_token.issue(call)
    if token is None:
        return _replayed(call_sid, call, outbound)
    log.info(
        "twilio: call %s (%s) for agent %r: stream to %s",
        call_sid,
        call.id,
        route.agent.name,
        stream_url(request),
    )
    return _xml(twiml.connect_stream(stream_url(request), token))


@csrf_exempt
@require_POST
def status(request: HttpRequest) -> HttpResponse:
    """Call progress from Twilio. The engine owns live calls; this closes calls whose stream never came."""
    if not signature.is_valid(request):
        return HttpResponseForbidden("invalid signature")
    call_sid = request.POST.get("CallSid", "")
    call_status = request.POST.get("CallStatus", "")
    log.info(
        "twilio: status callback %s: %s (%ss)", call_sid, call_status, request.POST.get("CallDuration", "-")
    )
    final = FINAL_STATUSES.get(call_status)
    if final and call_sid:
        Call.objects.filter(
            carrier=Carrier.TWILIO, carrier_call_id=call_sid, status=Call.Status.RINGING
        ).update(
            status=final,
            ended_at=timezone.now(),
            end_reason=f"twilio: {call_status} before the stream started",
        )
    return HttpResponse(status=204)


# --- warm transfer: the person's answer and their call's final status (telephony/twilio/handoff.py) ------
YES_WORDS = {"yes", "yeah", "yep", "sure", "okay", "ok"}
NO_WORDS = {"no", "nope"}


def _answer_of(data) -> str:
    """accepted, declined or "" (nothing usable) from a <Gather> action's Digits / SpeechResult."""
    digits = data.get("Digits", "")
    if digits == "1":
        return "accepted"
    if digits == "2":
        return "declined"
    words = set(data.get("SpeechResult", "").lower().replace(".", " ").replace(",", " ").split())
    if words & YES_WORDS and not words & NO_WORDS:
        return "accepted"
    if words & NO_WORDS:
        return "declined"
    return ""


@csrf_exempt
@require_POST
def transfer_answer(request: HttpRequest, token: str) -> HttpResponse:
    """The person's <Gather> answered: 1 / yes joins them to the caller's conference room, 2 / no (or
    nothing) declines. Each token decides once: a replay is told the call was already handled."""
    if not signature.is_valid(request):
        return HttpResponseForbidden("invalid signature")
    room = handoff.room_of(token)
    if room is None:
        log.warning("twilio: transfer answer for an unknown or expired token: hanging up the person")
        return _xml(twiml.goodbye(twiml.ALREADY_HANDLED))
    answer = _answer_of(request.POST)
    status = answer or "no-answer"
    detail = {
        "accepted": "the person accepted",
        "declined": "the person declined",
    }.get(answer, "the person answered but neither accepted nor declined")
    if not handoff.decide(token, status, detail):
        log.warning("twilio: transfer answer for %s replayed or too late: hanging up the person", token)
        return _xml(twiml.goodbye(twiml.ALREADY_HANDLED))
    log.info("twilio: warm transfer %s: %s (call %s)", token, status, request.POST.get("CallSid", ""))
    if status == "accepted":
        return _xml(twiml.conference(room, announce=twiml.TAKEN))
    return _xml(twiml.goodbye(twiml.DECLINED))


@csrf_exempt
@require_POST
def transfer_status(request: HttpRequest, token: str) -> HttpResponse:
    """The person's call ended: busy, no-answer, failed (or canceled) decide the transfer if the
    <Gather> did not; completed without an answer means they hung up on the brief (declined)."""
    if not signature.is_valid(request):
        return HttpResponseForbidden("invalid signature")
    call_status = request.POST.get("CallStatus", "")
    outcome = {"busy": "busy", "no-answer": "no-answer", "failed": "failed", "canceled": "no-answer"}.get(
        call_status, "declined" if call_status == "completed" else ""
    )
    if outcome and handoff.room_of(token) is not None:
        detail = f"Twilio reported the person's call {call_status}"
        if handoff.decide(token, outcome, detail):
            log.info("twilio: warm transfer %s: %s", token, detail)
    return HttpResponse(status=204)


def webhook_urls() -> dict[str, str]:
    """What to paste into the Twilio console for a number (the URLs "Connect" sets: wiring.targets)."""
    from .wiring import targets

    urls = targets()
    return {"A call comes in (Webhook, HTTP POST)": urls["voice_url"], "Call status changes (HTTP POST)": urls["status_callback"]}
