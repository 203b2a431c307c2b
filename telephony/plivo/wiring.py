"""Connect a Plivo number to this app: an Application with our answer and hangup URLs, linked to it.

Plivo sends a number's calls to the Application linked to it, so connecting creates one (or reuses
the one named for this server, updating its URLs), then links the number (Number update with
`app_id`). The number's previous Application is kept; a disconnect links it back and, once no other
connected number of ours uses the Application, deletes it if a connect made it, or else puts back the
URLs we changed on it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.urls import reverse
from plivo import exceptions as plivo_errors

from agents.models import Carrier, PhoneNumber
from agents.wiring import Connector, WiringError
from telephony.outbound.failures import describe

from . import rest

APP_FIELDS = ("answer_url", "answer_method", "hangup_url", "hangup_method")
# An empty app_id leaves a number with no Application (what it had when we found it with none). [?]
# Plivo's docs describe app_id only as "the application to link"; the emulator unlinks on "".
NO_APP = ""


def targets() -> dict[str, str]:
    base = settings.PUBLIC_BASE_URL
    return {
        "answer_url": base + reverse("plivo-answer"),
        "answer_method": "POST",
        "hangup_url": base + reverse("plivo-hangup"),
        "hangup_method": "POST",
    }


def app_name() -> str:
    """The Application's name: this server's public host (Plivo allows letters, digits, - and _)."""
    host = urlsplit(settings.PUBLIC_BASE_URL).hostname or "server"
    return "contactcenter-" + re.sub(r"[^A-Za-z0-9_-]+", "-", host).strip("-")


def _client():
    api = rest.client()
    if api is None:
        raise WiringError(
            "PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN are not set: set them to your account's (Plivo console, "
            "Overview) and restart."
        )
    return api


def _refusal(exc: Exception) -> WiringError:
    if isinstance(exc, plivo_errors.AuthenticationError):
        return WiringError(
            "Plivo refused our credentials (HTTP 401): check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN."
        )
    if isinstance(exc, plivo_errors.PlivoRestError):
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return WiringError(f"Plivo refused the change: {text[:200]}")
    return WiringError(describe("plivo", exc).replace("place the call", "change the number"))


def _app_id(resource_uri: str | None) -> str:
    """The id at the end of an Application's resource URI (".../Application/123/"), or ""."""
    return (resource_uri or "").rstrip("/").rsplit("/", 1)[-1] if resource_uri else ""


def connect(number: str) -> dict[str, Any]:
    api = _client()
    digits = number.lstrip("+")
    try:
        try:
            current = api.numbers.get(digits)
        except plivo_errors.ResourceNotFoundError:
            raise WiringError(
                f"The Plivo account {settings.PLIVO_AUTH_ID} has no number {number}: rent it in the Plivo "
                "console (Phone Numbers), or check the number here and PLIVO_AUTH_ID."
            ) from None
        previous = _app_id(getattr(current, "application", None))
        name = app_name()
        after = targets()
        existing = next((a for a in api.applications.list(app_name=name) if a.app_name == name), None)
        if existing is None:
            app_id = str(api.applications.create(app_name=name, **after).app_id)
            app_before = dict.fromkeys(APP_FIELDS, "")
        else:
            app_id = str(existing.app_id)
            app_before = {f: getattr(existing, f, "") or "" for f in APP_FIELDS}
            if app_before != after:
                api.applications.update(app_id, **after)
        api.numbers.update(digits, app_id=app_id)
    except (plivo_errors.PlivoRestError, requests.RequestException) as exc:
        raise _refusal(exc) from exc
    changes = [{"field": "application", "before": previous, "after": f"{app_id} ({name})"}]
    changes += [{"field": f, "before": app_before[f], "after": after[f]} for f in APP_FIELDS]
    return {
        "resource": digits,
        "number": number,
        "app_id": app_id,
        "previous_app_id": previous,
        "created_app": existing is None,
        "app_before": app_before,
        "changes": changes,
    }


def _still_used(app_id: str, resource: str) -> bool:
    """Another connected Plivo number of ours points at the Application."""
    return (
        PhoneNumber.objects.filter(carrier=Carrier.PLIVO, carrier_link__app_id=app_id)
        .exclude(number="+" + resource)
        .exists()
    )


def targets_of(link: dict[str, Any]) -> dict[str, str]:
    """The Application fields `connect` set (its "after" values)."""
    return {c["field"]: c["after"] for c in link.get("changes", []) if c["field"] in APP_FIELDS}


def disconnect(link: dict[str, Any]) -> None:
    api = _client()
    try:
        api.numbers.update(link["resource"], app_id=link.get("previous_app_id") or NO_APP)
        if not _still_used(link["app_id"], link["resource"]):
            previous = link.get("app_before") or {}
            if link.get("created_app") or previous == targets_of(link):
                # Ours (made by this connect or an earlier one): it goes with its last number.
                api.applications.delete(link["app_id"])
            elif previous and previous != targets_of(link):
                # An Application of ours from before whose URLs connect changed: put them back.
                api.applications.update(link["app_id"], **{k: v for k, v in previous.items() if v})
    except (plivo_errors.PlivoRestError, requests.RequestException) as exc:
        raise _refusal(exc) from exc


CONNECTOR = Connector(name="Plivo", connect=connect, disconnect=disconnect)
