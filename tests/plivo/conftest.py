"""The Plivo emulator and a daphne server whose Plivo REST client points at it."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS
from tests.support.live import database_url, start_daphne

PLIVO_NUMBER = "+15005550106"


@pytest.fixture(scope="session")
def plivo_emulator():
    from emulators.plivo.testing import start_in_thread

    emulator = start_in_thread(auth_token="test-plivo-auth-token")
    yield emulator
    emulator.close()


@pytest.fixture(scope="session")
def plivo_server(django_db_setup, django_db_blocker, live_server_env, plivo_emulator):
    """daphne with the emulator's credentials and REST URL (PLIVO_API_BASE_URL)."""
    from django.db import connection

    env = {
        **live_server_env,
        "PLIVO_AUTH_ID": plivo_emulator.emulator.auth_id,
        "PLIVO_AUTH_TOKEN": plivo_emulator.emulator.auth_token,
        "PLIVO_API_BASE_URL": plivo_emulator.rest_url,
        "PLIVO_MAX_FRAME_BYTES": "160",
    }
    server = start_daphne(database_url(connection.settings_dict), ARTIFACTS / "logs", env)
    plivo_emulator.retarget(server.url)
    yield server
    server.stop()


@pytest.fixture
def plivo_agent(transactional_db):
    from agents.models import Agent, Tool
    from telephony.models import PhoneNumber

    agent = Agent.objects.create(
        name="Plivo test agent",
        system_prompt="You are a support agent for Example Corp.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
    )
    agent.tools.add(Tool.objects.create(name="end_call", kind="end_call", description="End the call."))
    PhoneNumber.objects.create(carrier="plivo", number=PLIVO_NUMBER, agent=agent)
    return agent
