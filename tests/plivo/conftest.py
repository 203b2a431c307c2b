"""The Plivo emulator and a daphne server whose Plivo REST client points at it."""

from __future__ import annotations

import pytest

from tests.support.carrier import carrier_agent, start_carrier_daphne

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
    env = {
        "PLIVO_AUTH_ID": plivo_emulator.emulator.auth_id,
        "PLIVO_AUTH_TOKEN": plivo_emulator.emulator.auth_token,
        "PLIVO_API_BASE_URL": plivo_emulator.rest_url,
        "PLIVO_MAX_FRAME_BYTES": "160",
    }
    server = start_carrier_daphne(plivo_emulator, live_server_env, env)
    yield server
    server.stop()


@pytest.fixture
def plivo_agent(transactional_db):
    return carrier_agent("Plivo test agent", "plivo", PLIVO_NUMBER)
