"""The Twilio emulator and a daphne server whose Twilio REST client points at it."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS
from tests.support.live import database_url, start_daphne

TWILIO_NUMBER = "+15005550006"


@pytest.fixture(scope="session")
def twilio_emulator():
    from emulators.twilio.testing import start_in_thread

    emulator = start_in_thread(auth_token="test-twilio-auth-token")
    yield emulator
    emulator.close()


@pytest.fixture(scope="session")
def twilio_server(django_db_setup, django_db_blocker, live_server_env, twilio_emulator):
    """daphne with the emulator's credentials and REST URL (TWILIO_API_BASE_URL)."""
    from django.db import connection

    env = {
        **live_server_env,
        "TWILIO_ACCOUNT_SID": twilio_emulator.emulator.account_sid,
        "TWILIO_AUTH_TOKEN": twilio_emulator.emulator.auth_token,
        "TWILIO_API_BASE_URL": twilio_emulator.rest_url,
    }
    server = start_daphne(database_url(connection.settings_dict), ARTIFACTS / "logs", env)
    twilio_emulator.retarget(server.url)
    yield server
    server.stop()


@pytest.fixture
def twilio_agent(transactional_db):
    from agents.models import Agent, Tool
    from telephony.models import PhoneNumber

    agent = Agent.objects.create(
        name="Twilio test agent",
        system_prompt="You are a support agent for Example Corp.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
    )
    agent.tools.add(Tool.objects.create(name="end_call", kind="end_call", description="End the call."))
    PhoneNumber.objects.create(carrier="twilio", number=TWILIO_NUMBER, agent=agent)
    return agent
