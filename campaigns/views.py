"""Placing outbound calls by hand: the JSON endpoint (Bearer API token) and the staff form in the admin."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from agents.models import Agent
from calls.api.auth import token_required
from telephony.outbound import OUTBOUND_CARRIERS, OutboundError, place_call


# --- JSON API -------------------------------------------------------------------------------------------
def _agent(value) -> Agent | None:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return Agent.objects.filter(pk=int(value)).first()
    if isinstance(value, str) and value:
        return Agent.objects.filter(name=value).first()
    return None


def _bad(message: str, field: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message, "field": field} if field else {"error": message}, status=status)


@csrf_exempt
@require_POST
@token_required
def api_outbound(request: HttpRequest) -> JsonResponse:
    """POST /api/calls/outbound {agent, to, carrier, from?, variables?, detect_machines?} -> 201 {call_id}."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _bad("the body must be a JSON object", "")
    if not isinstance(body, dict):
        return _bad("the body must be a JSON object", "")
    for name in ("agent", "to", "carrier"):
        if body.get(name) in (None, ""):
            return _bad(f"'{name}' is required", name)
    agent = _agent(body["agent"])
    if agent is None:
        return _bad(f"no agent {body['agent']!r} (give its id or name)", "agent")
    variables = body.get("variables", {})
    if not isinstance(variables, dict):
        return _bad("'variables' must be an object of template fields", "variables")
    for name in ("to", "from", "carrier"):
        if body.get(name) is not None and not isinstance(body[name], str):
            return _bad(f"'{name}' must be a string", name)
    try:
        call = place_call(
            agent,
            body["carrier"],
            body["to"],
            body.get("from") or "",
            variables,
            detect_machines=bool(body.get("detect_machines", False)),
        )
    except OutboundError as exc:
        return _bad(exc.message, exc.field, 400 if exc.field else 502)
    return JsonResponse(
        {"call_id": str(call.pk), "status": call.status, "carrier_call_id": call.carrier_call_id}, status=201
    )


# --- staff form -----------------------------------------------------------------------------------------
class OutboundCallForm(forms.Form):
    agent = forms.ModelChoiceField(Agent.objects.filter(is_active=True))
    carrier = forms.ChoiceField(choices=[(c.value, c.label) for c in OUTBOUND_CARRIERS])
    to = forms.CharField(
        max_length=64, help_text="E.164 for Twilio / Plivo; a number or extension for Asterisk."
    )
    from_number = forms.CharField(
        max_length=64, required=False, help_text="Caller ID. Empty: the agent's first number on the carrier."
    )
    variables = forms.JSONField(
        required=False, initial=dict, help_text='Template fields, e.g. {"name": "Ada"}.'
    )
    detect_machines = forms.BooleanField(required=False)


@staff_member_required
def place_call_form(request: HttpRequest) -> HttpResponse:
    """Admin page: place one outbound call with an agent (also linked from the Campaign admin)."""
    initial = {"agent": request.GET.get("agent")} if request.GET.get("agent") else None
    form = OutboundCallForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            call = place_call(
                data["agent"],
                data["carrier"],
                data["to"],
                data["from_number"],
                data["variables"] or {},
                detect_machines=data["detect_machines"],
            )
        except OutboundError as exc:
            form.add_error(exc.field if exc.field in ("agent", "carrier", "to") else None, exc.message)
        else:
            messages.success(request, f"Calling {call.to_number} with {data['agent'].name}.")
            return redirect(reverse("dashboard:call", args=[call.pk]))
    context = {**admin.site.each_context(request), "form": form, "title": "Place an outbound call"}
    return render(request, "outbound/place_call.html", context)
