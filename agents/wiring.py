"""Point a carrier's number at this app through the carrier's REST API ("Connect to Twilio"), and undo it.

The carrier code lives in `telephony` and registers here (`CONNECTORS`, filled by `telephony.apps`), so
the admin offers the buttons without importing a transport. What a connect changed is kept on the
number (`PhoneNumber.carrier_link`): the admin shows it, and a disconnect puts the old values back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from .models import PhoneNumber


class WiringError(Exception):
    """Why a number could not be connected or disconnected, said so an operator knows what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Connector:
    """One carrier's way to point a number at this app.

    `connect(number)` returns what to keep: {"resource": the carrier's id for the number, "changes":
    [{"field", "before", "after"}...], plus whatever `disconnect` needs}; `disconnect(link)` restores
    it. Both raise WiringError with a readable message.
    """

    name: str  # as shown on the buttons: "Twilio"
    connect: Callable[[str], dict[str, Any]]
    disconnect: Callable[[dict[str, Any]], None]


CONNECTORS: dict[str, Connector] = {}


def public_url_problem(base_url: str) -> str:
    """Why a carrier could not call `base_url` back ("" when it can): loopback, private, plain http."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        address = ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or host.endswith(".localhost") or (address is not None and address.is_loopback):
        return f"A carrier cannot reach {host}: it is this machine's loopback address."
    if address is not None and (address.is_private or address.is_link_local or address.is_unspecified):
        return f"A carrier cannot reach {host}: it is a private network address."
    if parts.scheme != "https":
        return "Twilio and Plivo call webhooks over https and stream over wss; this address is plain http."
    return ""


def base_url_refusal() -> str:
    """What stops a carrier from reaching PUBLIC_BASE_URL, with what to do ("" when nothing does)."""
    base = settings.PUBLIC_BASE_URL
    fix = (
        "Set PUBLIC_BASE_URL to this server's public https address (or a tunnel's, e.g. "
        "https://name.ngrok.app) and restart."
    )
    if not base:
        return f"PUBLIC_BASE_URL is not set, so there is no address to give the carrier. {fix}"
    problem = public_url_problem(base)
    return f"{problem} {fix}" if problem else ""


def connector_for(number: PhoneNumber) -> Connector | None:
    return CONNECTORS.get(number.carrier)


def connect(number: PhoneNumber, by: str = "") -> dict[str, Any]:
    """Point the carrier's `number` at this app and keep what changed on it. Raises WiringError."""
    connector = connector_for(number)
    if connector is None:
        raise WiringError(f"{number.get_carrier_display()} numbers are not connected through a carrier API.")
    if number.carrier_link:
        raise WiringError(
            f"{number.number} is already connected to {connector.name}: disconnect it first to connect again."
        )
    refusal = base_url_refusal()
    if refusal:
        raise WiringError(refusal)
    link = connector.connect(number.number)
    link.update(
        carrier=number.carrier,
        base_url=settings.PUBLIC_BASE_URL,
        connected_at=timezone.now().isoformat(timespec="seconds"),
        connected_by=by,
    )
    PhoneNumber.objects.filter(pk=number.pk).update(carrier_link=link)
    number.carrier_link = link
    return link


def disconnect(number: PhoneNumber) -> dict[str, Any]:
    """Put back what `connect` changed on the carrier; forget the link. Raises WiringError."""
    link = number.carrier_link
    connector = CONNECTORS.get(link.get("carrier", "")) if link else None
    if connector is None:
        raise WiringError(f"{number.number} is not connected through this page: there is nothing to undo.")
    connector.disconnect(link)
    PhoneNumber.objects.filter(pk=number.pk).update(carrier_link={})
    number.carrier_link = {}
    return link
