"""What the Twilio and Plivo test fixtures share: daphne pointed at an emulator, and a test agent."""

from __future__ import annotations

from tests.conftest import ARTIFACTS
from tests.support.live import database_url, start_daphne


def start_carrier_daphne(running, live_server_env: dict, env: dict):
    """daphne with the carrier's credentials in `env`; the emulator's webhooks retargeted at it."""
    from django.db import connection

    server = start_daphne(
        database_url(connection.settings_dict), ARTIFACTS / "logs", {**live_server_env, **env}
    )
    running.retarget(server.url)
    return server


def carrier_agent(name: str, carrier: str, number: str):
    """An agent (greeting, end_call tool) answering `number` on `carrier`."""
    from agents.models import Agent, PhoneNumber, Tool

    agent = Agent.objects.create(
        name=name,
        system_prompt="You are a support agent for Example Corp.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
    )
    agent.tools.add(Tool.objects.create(name="end_call", kind="end_call", description="End the call."))
    PhoneNumber.objects.create(carrier=carrier, number=number, agent=agent)
    return agent
