"""Routing checks: agents no call can reach, numbers and extensions that reach no agent."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q

from agents.models import Agent, Extension, PhoneNumber

from . import ERROR, OK, WARNING, Finding


def agents_reachable() -> Finding | list[Finding]:
    agents = Agent.objects.filter(is_active=True).order_by("name")
    if not agents.exists():
        return Finding(
            WARNING, "agents: no active agent: create one in the admin (./run's demo agent is one)"
        )
    unbound = agents.exclude(Q(numbers__is_active=True) | Q(extensions__is_active=True))
    if settings.FALLBACK_AGENT:
        unbound = unbound.exclude(name=settings.FALLBACK_AGENT)
    findings = [
        Finding(
            WARNING,
            f"agents: {agent.name!r} has no active number or extension, so no inbound call reaches it "
            "(outbound and test calls still do): bind one in the admin",
        )
        for agent in unbound.distinct()
    ]
    if settings.FALLBACK_AGENT and not agents.filter(name=settings.FALLBACK_AGENT).exists():
        findings.append(
            Finding(
                ERROR,
                f"agents: FALLBACK_AGENT={settings.FALLBACK_AGENT!r} is not an active agent: unbound numbers "
                "hear the apology instead; fix the name or activate the agent",
            )
        )
    return findings or Finding(
        OK, f"agents: all {agents.count()} active agent(s) answer a number or extension"
    )


def numbers_on_inactive_agents() -> Finding | list[Finding]:
    numbers = PhoneNumber.objects.filter(is_active=True, agent__is_active=False).select_related("agent")
    extensions = Extension.objects.filter(is_active=True, agent__is_active=False).select_related("agent")
    findings = [
        Finding(
            WARNING,
            f"numbers: {row} is bound to inactive agent {row.agent.name!r}: its callers hear the apology; "
            "bind it to an active agent or switch it off",
        )
        for row in [*numbers, *extensions]
    ]
    return findings or Finding(OK, "numbers: every active number and extension reaches an active agent")
