"""The one routing lookup: (carrier, number) or (context, extension) to the agent that answers.

Every transport asks here. An unknown or inactive number falls back to `settings.FALLBACK_AGENT`
when one is configured, otherwise the caller hears the pre-rendered apology (`engine.prompts`).
Sync ORM code: transports call it through `database_sync_to_async`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings

from agents.models import Agent

from .models import Carrier, Extension, PhoneNumber

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    agent: Agent | None
    reason: str  # "bound", "fallback", "unknown", "inactive_number", "inactive_agent"
    media_transport: str = ""
    number: PhoneNumber | None = None  # the bound number, when routed by number

    @property
    def found(self) -> bool:
        return self.agent is not None


def normalise_number(carrier: str, raw: str) -> str:
    """Strip what carriers wrap around a number: `sip:` URIs, `@host`, spaces and dashes."""
    value = (raw or "").strip()
    if value.lower().startswith(("sip:", "sips:", "tel:")):
        value = value.split(":", 1)[1]
    value = value.split("@", 1)[0].split(";", 1)[0]
    if carrier in (Carrier.TWILIO, Carrier.PLIVO):
        digits = re.sub(r"[\s\-().]", "", value)
        if digits and digits[0] != "+" and digits.isdigit():
            digits = "+" + digits  # Plivo sends E.164 without the +
        return digits
    return value


def _fallback(reason: str, what: str) -> Route:
    name = getattr(settings, "FALLBACK_AGENT", "")
    if name:
        agent = Agent.objects.filter(name=name, is_active=True).first()
        if agent:
            log.info("routing: %s (%s), using fallback agent %r", what, reason, name)
            return Route(agent, "fallback")
        log.error("routing: FALLBACK_AGENT=%r is not an active agent; fix the setting or the agent", name)
    log.warning("routing: %s (%s); the caller hears the apology", what, reason)
    return Route(None, reason)


def route_number(carrier: str, number: str) -> Route:
    """The agent for a call to `number` on `carrier` (twilio, plivo, sip)."""
    number = normalise_number(carrier, number)
    numbers = PhoneNumber.objects.select_related("agent")
    row = numbers.filter(carrier=carrier, number=number).first()
    if row is None and carrier == Carrier.SIP:
        # A Twilio number set to "SIP to runsip" reaches us as sip:<number>@... via <Dial><Sip>.
        row = numbers.filter(carrier=Carrier.TWILIO, number=number, twilio_media="sip").first()
    what = f"{carrier} number {number or '(empty)'}"
    if row is None:
        return _fallback("unknown", what + " is not bound to an agent")
    if not row.is_active:
        return _fallback("inactive_number", what + " is switched off")
    if not row.agent.is_active:
        return _fallback("inactive_agent", f"{what}: agent {row.agent.name!r} is inactive")
    return Route(row.agent, "bound", number=row)


def route_extension(context: str, extension: str) -> Route:
    """The agent for an Asterisk call that entered Stasis from `extension@context`."""
    row = Extension.objects.select_related("agent").filter(context=context, extension=extension).first()
    what = f"asterisk extension {extension}@{context}"
    if row is None:
        return _fallback("unknown", what + " is not bound to an agent")
    if not row.is_active:
        return _fallback("inactive_number", what + " is switched off")
    if not row.agent.is_active:
        return _fallback("inactive_agent", f"{what}: agent {row.agent.name!r} is inactive")
    return Route(row.agent, "bound", row.media_transport)


def route_agent(agent_id: int | str | None, reason: str) -> Route:
    """A call that names its agent (an outbound call, a staff test call): no number to route by."""
    agent = Agent.objects.filter(pk=agent_id).first() if str(agent_id or "").isdigit() else None
    if agent is None:
        return Route(None, "unknown")
    if not agent.is_active:
        return Route(None, "inactive_agent")
    return Route(agent, reason)
