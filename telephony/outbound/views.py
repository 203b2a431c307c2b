"""Outbound webhooks (Twilio, Plivo): the carrier's answer, status and machine-detection callbacks.

Each carrier webhook carries `?call=<id>` (we set it when dialling), is signature-checked like the
inbound ones, and finds its Call by that id: no number routing, the agent is the Call's.
"""

from __future__ import annotations

import logging
import uuid

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from plivo import plivoxml
from twilio.twiml.voice_response import VoiceResponse

from agents.models import Carrier
from calls.models import Call
from calls.signals import call_finished
from telephony import media_token
from telephony.plivo import rest as plivo_rest
from telephony.plivo import signature as plivo_signature
from telephony.plivo import views as plivo_views
from telephony.plivo import xml as plivo_xml
from telephony.twilio import signature as twilio_signature
from telephony.twilio import twiml
from telephony.twilio import views as twilio_views

from .dial import (
    ANSWERED_BY_KEY,
    VOICEMAIL_KEY,
    record_unanswered,
)

log = logging.getLogger(__name__)

TWILIO_UNANSWERED = {
    "busy": Call.Status.BUSY,
    "no-answer": Call.Status.NO_ANSWER,
    "canceled": Call.Status.NO_ANSWER,
    "failed": Call.Status.FAILED,
}
PLIVO_UNANSWERED = {
    "busy": Call.Status.BUSY,
    "no-answer": Call.Status.NO_ANSWER,
    "timeout": Call.Status.NO_ANSWER,
    "cancel": Call.Status.NO_ANSWER,
    "failed": Call.Status.FAILED,
}


def _call(request: HttpRequest, carrier: str) -> Call | None:
    try:
        pk = uuid.UUID(request.GET.get("call", ""))
    except ValueError:
        return None
    return Call.objects.filter(pk=pk, carrier=carrier, direction=Call.Direction.OUTBOUND).first()


def _twiml(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/xml")


def _plivo_xml(*elements) -> HttpResponse:
    response = plivoxml.ResponseElement()
    for element in elements:
        response.add(element)
    return HttpResponse(response.to_string(False), content_type="application/xml")


def _twiml_hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def _close_unstreamed(call: Call, reason: str) -> None:
    Call.objects.filter(pk=call.pk, status__in=Call.LIVE_STATUSES).update(
        status=Call.Status.COMPLETED, answered_at=timezone.now(), ended_at=timezone.now(), end_reason=reason
    )
    call_finished.send(sender=Call, call_id=call.pk)


def _replayed(carrier: str, call: Call, hang_up: str) -> str:
    """The answer webhook of a call that already has its stream token came again: a replay gets
    no second token (no second stream on one Call), only a hang-up document."""
    log.warning(
        "%s: outbound answer for %s replayed: it already has its stream token; hanging up", carrier, call.pk
    )
    return hang_up


def _machine_answered(call: Call) -> str:
    """Mark the call as answered by a machine; returns the message to leave ('' for none)."""
    variables = {**call.variables, ANSWERED_BY_KEY: "machine"}
    Call.objects.filter(pk=call.pk).update(variables=variables)
    call.variables = variables
    return str(variables.get(VOICEMAIL_KEY) or "")


# --- Twilio ---------------------------------------------------------------------------------------------
@csrf_exempt
@require_POST
def twilio_answer(request: HttpRequest) -> HttpResponse:
    """The callee answered: stream to the agent, or leave the voicemail if a machine answered."""
    if not twilio_signature.is_valid(request):
        return HttpResponseForbidden("invalid signature")
    call = _call(request, Carrier.TWILIO)
    hang_up = _twiml_hangup()
    if call is None or call.status not in Call.LIVE_STATUSES:
        log.warning(
            "twilio: outbound answer for unknown or finished call %s: hanging up", request.GET.get("call")
        )
        return _twiml(hang_up)
    if call.media_token_hash:
        return _twiml(_replayed(Carrier.TWILIO, call, hang_up))
    Call.objects.filter(pk=call.pk).update(carrier_call_id=request.POST.get("CallSid", call.carrier_call_id))
    answered_by = request.POST.get("AnsweredBy", "")
    if answered_by.startswith("machine") or answered_by == "fax":
        if not _machine_answered(call):
            log.info(
                "twilio: outbound %s reached %s and has no message to leave: hanging up", call.pk, answered_by
            )
            _close_unstreamed(call, "voicemail: machine answered, no message")
            return _twiml(hang_up)
        log.info("twilio: outbound %s reached %s: the agent leaves the message", call.pk, answered_by)
    token = media_token.issue(call)
    if token is None:
        return _twiml(_replayed(Carrier.TWILIO, call, hang_up))
    return _twiml(twiml.connect_stream(twilio_views.stream_url(request), token))


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Call progress of an outbound call: busy / no answer / failed close the Call and its contact."""
    if not twilio_signature.is_valid(request):
        return HttpResponseForbidden("invalid signature")
    call = _call(request, Carrier.TWILIO)
    status = request.POST.get("CallStatus", "")
    log.info("twilio: outbound status %s: %s", request.GET.get("call"), status)
    if call is not None:
        if status in TWILIO_UNANSWERED:
            record_unanswered(call.pk, TWILIO_UNANSWERED[status], f"twilio: {status}")
        elif status == "completed":
            if call.status == Call.Status.RINGING:  # ended without ever streaming (e.g. hung up on a machine)
                _close_unstreamed(call, call.end_reason or "twilio: completed before the stream started")
            call_finished.send(sender=Call, call_id=call.pk)
    return HttpResponse(status=204)


# --- Plivo ----------------------------------------------------------------------------------------------
@csrf_exempt
@require_POST
def plivo_answer(request: HttpRequest) -> HttpResponse:
    data = plivo_signature.params(request)
    if not plivo_signature.is_valid(request, data):
        return HttpResponseForbidden("invalid signature")
    call = _call(request, Carrier.PLIVO)
    if call is None or call.status not in Call.LIVE_STATUSES:
        return _plivo_xml(plivoxml.HangupElement())
    if call.media_token_hash:
        return HttpResponse(
            _replayed(Carrier.PLIVO, call, plivo_xml.hangup()), content_type="application/xml"
        )
    if data.get("CallUUID"):
        Call.objects.filter(pk=call.pk).update(carrier_call_id=str(data["CallUUID"]))
    token = media_token.issue(call)
    if token is None:
        return HttpResponse(
            _replayed(Carrier.PLIVO, call, plivo_xml.hangup()), content_type="application/xml"
        )
    return HttpResponse(
        plivo_xml.stream(plivo_views.stream_url(request), token), content_type="application/xml"
    )


@csrf_exempt
@require_POST
def plivo_hangup(request: HttpRequest) -> HttpResponse:
    data = plivo_signature.params(request)
    if not plivo_signature.is_valid(request, data):
        return HttpResponseForbidden("invalid signature")
    call = _call(request, Carrier.PLIVO)
    status = str(data.get("CallStatus", "completed"))
    log.info(
        "plivo: outbound hangup %s: %s (%s)", request.GET.get("call"), status, data.get("HangupCause", "-")
    )
    if call is not None:
        if status in PLIVO_UNANSWERED:
            record_unanswered(call.pk, PLIVO_UNANSWERED[status], f"plivo: {status}")
        else:
            if call.status == Call.Status.RINGING:
                _close_unstreamed(call, "plivo: completed before the stream started")
            call_finished.send(sender=Call, call_id=call.pk)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def plivo_machine(request: HttpRequest) -> HttpResponse:
    """Plivo's asynchronous machine detection: on a machine, send the call to the voicemail XML."""
    data = plivo_signature.params(request)
    if not plivo_signature.is_valid(request, data):
        return HttpResponseForbidden("invalid signature")
    call = _call(request, Carrier.PLIVO)
    if call is None or str(data.get("Machine", "")).lower() != "true":
        return HttpResponse(status=204)
    message = _machine_answered(call)
    log.info(
        "plivo: outbound %s answered by a machine: %s",
        call.pk,
        "leaving the message" if message else "hanging up",
    )
    call_uuid = str(data.get("CallUUID") or call.carrier_call_id)
    try:
        if message:
            plivo_rest.transfer(
                call_uuid,
                f"{plivo_views.public_base(request)}{reverse('outbound-plivo-voicemail')}?call={call.pk}",
            )
        else:
            plivo_rest.end_call(call_uuid)
    except Exception:  # noqa: BLE001 - the engine call goes on; logged for the operator
        log.exception("plivo: could not redirect %s to the voicemail", call_uuid)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def plivo_voicemail(request: HttpRequest) -> HttpResponse:
    data = plivo_signature.params(request)
    if not plivo_signature.is_valid(request, data):
        return HttpResponseForbidden("invalid signature")
    call = _call(request, Carrier.PLIVO)
    message = str((call.variables if call else {}).get(VOICEMAIL_KEY) or "")
    if call is not None:
        Call.objects.filter(pk=call.pk).update(variables={**call.variables, "_voicemail_left": True})
    return _plivo_xml(*([plivoxml.SpeakElement(message)] if message else []), plivoxml.HangupElement())
