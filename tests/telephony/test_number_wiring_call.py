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
from tests.support.carrier import carrier_agent, heard_agent_line, stored
from tests.support.live import database_url, start_daphne

PUBLIC = "https://cc.example.test"
NUMBERS = {"twilio": "+15005550006", "plivo": "+15005550007"}
DEAD = "/not-connected/"  # where an unconnected number's calls go here: a 404

pytestmark = pytest.mark.django_db(transaction=True)


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
    yield emulators, env, server
    server.stop()
    for running in emulators.values():
        running.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("carrier", ["twilio", "plivo"])
async def test_a_call_to_a_connected_number_reaches_the_agent(wired, settings, staff_user, carrier):
    emulators, env, _ = wired
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
        assert await heard_agent_line(emu, call) == agent.greeting
    finally:
        await emu.run(call.hangup())
    row = await stored(call.call_id)
    assert row.agent_id == agent.pk and row.to_number == NUMBERS[carrier]

    response = await sync_to_async(admin.post)(f"/admin/agents/phonenumber/{number.pk}/disconnect/")
    assert response.status_code == 302


def test_connect_and_disconnect_from_the_admin_in_chromium(wired, staff_user):
    """As a staff member meets it: on the Twilio number's admin page, "Connect to Twilio" points the
    carrier's number at this app and the page shows each field before and after; "Disconnect" puts
    the old voice URL back. Real Chromium against the daphne the carrier reaches."""
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    from agents.models import PhoneNumber

    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which(chromium):
        pytest.skip("needs Debian's chromium")
    emulators, _, server = wired
    twilio = emulators["twilio"].emulator
    twilio.numbers.find(NUMBERS["twilio"]).update(voice_url="https://demo.twilio.com/welcome/voice/")
    agent = carrier_agent("Browser wired agent", "twilio", NUMBERS["twilio"])
    number = PhoneNumber.objects.get(agent=agent)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API keeps a loop in this thread
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(base_url=server.url, viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"/admin/agents/phonenumber/{number.pk}/change/")
            page.fill("input[name=username]", "staff")
            page.fill("input[name=password]", "correct horse battery")
            page.click("input[type=submit], button[type=submit]")
            page.click("#carrier-connect button")
            page.locator("text=now sends its calls to this app").wait_for()
            body = page.inner_text("#content")
            assert "https://demo.twilio.com/welcome/voice/" in body and f"{PUBLIC}/twilio/voice/" in body
            assert twilio.numbers.find(NUMBERS["twilio"])["voice_url"] == f"{PUBLIC}/twilio/voice/"
            (ARTIFACTS / "dashboard").mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(ARTIFACTS / "dashboard" / "14-admin-number-connected.png"), full_page=True
            )
            page.click("#carrier-disconnect button")
            page.locator("#carrier-connect button").wait_for()
            assert (
                twilio.numbers.find(NUMBERS["twilio"])["voice_url"]
                == "https://demo.twilio.com/welcome/voice/"
            )
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
