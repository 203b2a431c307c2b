"""After "Connect to Twilio / Plivo", a call to the number reaches the agent through the URLs the carrier
now holds for it (the emulator's stored voice URL or linked Application), not the test's own.

daphne runs with a public https PUBLIC_BASE_URL (as in production behind a proxy); the emulators
forward what they send to that address to daphne, as a tunnel would, and sign over the public URL.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from tests.conftest import ARTIFACTS
from tests.support.carrier import carrier_agent, heard, stored
from tests.support.live import database_url, start_daphne

PUBLIC = "https://cc.example.test"
NUMBERS = {"twilio": "+15005550006", "plivo": "+15005550007"}
DEAD = "/not-connected/"  # where an unconnected number's calls go here: a 404

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(scope="module")
def wired(django_db_setup, django_db_blocker, live_server_env):
    """The two emulators (their own, so the numbers rewired here steer no other test's calls) and daphne."""
    from django.db import connection

    from emulators.plivo.testing import start_in_thread as start_plivo
    from emulators.twilio.testing import start_in_thread as start_twilio

    emulators = {
        "twilio": start_twilio(auth_token="wired-twilio-token"),
        "plivo": start_plivo(auth_token="wired-plivo-token"),
    }
    env = {
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": emulators["twilio"].emulator.account_sid,
        "TWILIO_AUTH_TOKEN": "wired-twilio-token",
        "TWILIO_API_BASE_URL": emulators["twilio"].rest_url,
        "PLIVO_AUTH_ID": emulators["plivo"].emulator.auth_id,
        "PLIVO_AUTH_TOKEN": "wired-plivo-token",
        "PLIVO_API_BASE_URL": emulators["plivo"].rest_url,
    }
    server = start_daphne(
        database_url(connection.settings_dict), ARTIFACTS / "logs", {**live_server_env, **env}
    )
    for running in emulators.values():
        running.retarget(server.url, PUBLIC)
    # Unconnected numbers would ring nowhere: only the URLs "Connect" stores reach the app.
    emulators["twilio"].emulator.voice_url = server.url + DEAD
    emulators["plivo"].emulator.answer_path = DEAD
    yield emulators, env
    server.stop()
    for running in emulators.values():
        running.close()


@pytest.mark.parametrize("carrier", ["twilio", "plivo"])
async def test_a_call_to_a_connected_number_reaches_the_agent(wired, settings, staff_user, carrier):
    emulators, env = wired
    for name, value in env.items():
        setattr(settings, name, value)
    emu = emulators[carrier]
    agent = await sync_to_async(carrier_agent)(f"Wired {carrier} agent", carrier, NUMBERS[carrier])
    number = await sync_to_async(lambda: agent.numbers.get())()

    admin = Client()
    await sync_to_async(admin.force_login)(staff_user)
    response = await sync_to_async(admin.post)(f"/admin/agents/phonenumber/{number.pk}/connect/")
    assert response.status_code == 302, response.content.decode()[:3000]

    call = await emu.place(to=NUMBERS[carrier])
    try:
        await emu.run(call.answered())
        first_url = call.voice_url if carrier == "twilio" else call.answer_url
        assert first_url == f"{PUBLIC}/{carrier}/{'voice' if carrier == 'twilio' else 'answer'}/"
        assert call.webhook_status == 200, call.errors  # signed over the public URL, accepted
        assert call.stream_started.is_set(), call.errors
        greeting = await heard(emu, call)
        assert {"calling", "help", "example"} & set(greeting.split()), greeting
    finally:
        await emu.run(call.hangup())
    row = await stored(call.call_id)
    assert row.agent_id == agent.pk and row.to_number == NUMBERS[carrier]

    response = await sync_to_async(admin.post)(f"/admin/agents/phonenumber/{number.pk}/disconnect/")
    assert response.status_code == 302
