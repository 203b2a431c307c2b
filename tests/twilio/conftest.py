"""The Twilio emulator and a daphne server whose Twilio REST client points at it."""

from __future__ import annotations

import pytest

from tests.support.carrier import carrier_agent, start_carrier_daphne

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
    env = {
        "TWILIO_ACCOUNT_SID": twilio_emulator.emulator.account_sid,
        "TWILIO_AUTH_TOKEN": twilio_emulator.emulator.auth_token,
        "TWILIO_API_BASE_URL": twilio_emulator.rest_url,
    }
    server = start_carrier_daphne(twilio_emulator, live_server_env, env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def twilio_streams_server(live_server_env, twilio_emulator, twilio_server):
    """The media process (`python -m contactcenter.streams`, uvicorn with contactcenter.ws_protocol) with
    the same credentials; daphne stays the emulator's target unless a test retargets it."""
    env = {
        "TWILIO_ACCOUNT_SID": twilio_emulator.emulator.account_sid,
        "TWILIO_AUTH_TOKEN": twilio_emulator.emulator.auth_token,
        "TWILIO_API_BASE_URL": twilio_emulator.rest_url,
    }
    server = start_carrier_daphne(twilio_emulator, live_server_env, env, server="streams")
    twilio_emulator.retarget(twilio_server.url)
    yield server
    server.stop()


@pytest.fixture(params=["daphne", "streams"])
def stream_server(request, twilio_server, twilio_emulator):
    """Each server that carries media streams in turn: daphne (embedded `./run`) and the media process,
    where the consumers take their frames in the server's read callback (telephony/sockets.py)."""
    if request.param == "daphne":
        yield twilio_server
        return
    server = request.getfixturevalue("twilio_streams_server")
    twilio_emulator.retarget(server.url)
    try:
        yield server
    finally:
        twilio_emulator.retarget(twilio_server.url)


@pytest.fixture
def twilio_agent(transactional_db):
    return carrier_agent("Twilio test agent", "twilio", TWILIO_NUMBER)
