"""'Connect to Twilio / Plivo' on a number's admin page, through the admin's real views, against the
carrier emulators' REST APIs (the official `twilio` and `plivo` packages talk to them over HTTP).

Each test module starts its own emulators so the numbers it rewires never steer another test's calls.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from twilio.base.exceptions import TwilioRestException

from agents.models import PhoneNumber

PUBLIC = "https://cc.example.test"
TWILIO_NUMBER = "+15005550006"
PLIVO_NUMBER = "+15005550007"
OLD_VOICE_URL = "https://demo.twilio.com/welcome/voice/"

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def twilio_rest():
    from emulators.twilio.testing import start_in_thread

    running = start_in_thread(app_url="http://127.0.0.1:9", auth_token="wiring-twilio-token")
    yield running.emulator
    running.close()


@pytest.fixture(scope="module")
def plivo_rest():
    from emulators.plivo.testing import start_in_thread

    running = start_in_thread(app_url="http://127.0.0.1:9", auth_token="wiring-plivo-token")
    yield running.emulator
    running.close()


@pytest.fixture(autouse=True)
def carrier_settings(settings, twilio_rest, plivo_rest):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.TWILIO_ACCOUNT_SID = twilio_rest.account_sid
    settings.TWILIO_AUTH_TOKEN = twilio_rest.auth_token
    settings.TWILIO_API_BASE_URL = twilio_rest.rest_url
    settings.PLIVO_AUTH_ID = plivo_rest.auth_id
    settings.PLIVO_AUTH_TOKEN = plivo_rest.auth_token
    settings.PLIVO_API_BASE_URL = plivo_rest.rest_url
    twilio_rest.rest_requests.clear()
    plivo_rest.rest_requests.clear()


@pytest.fixture
def twilio_number(agent, twilio_rest):
    """Ours, and on the emulated account with a voice URL someone set before (Twilio's demo)."""
    on_carrier = twilio_rest.numbers.find(TWILIO_NUMBER)
    on_carrier.update(voice_url=OLD_VOICE_URL, voice_method="GET", status_callback="")
    return PhoneNumber.objects.create(number=TWILIO_NUMBER, carrier="twilio", agent=agent)


@pytest.fixture
def old_app(plivo_rest):
    """An Application the Plivo number was linked to before (someone's IVR)."""
    app = plivo_rest.numbers.create_application(
        f"old-ivr-{len(plivo_rest.numbers.applications)}", answer_url="https://ivr.example.net/answer"
    )
    plivo_rest.numbers.link(PLIVO_NUMBER, app["app_id"])
    return app


@pytest.fixture
def plivo_number(agent, old_app):
    return PhoneNumber.objects.create(number=PLIVO_NUMBER, carrier="plivo", agent=agent)


@pytest.fixture
def staff(client, staff_user) -> Client:
    client.force_login(staff_user)
    return client


def change_page(client, number) -> str:
    response = client.get(f"/admin/agents/phonenumber/{number.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_connect_points_the_twilio_number_at_the_app_and_disconnect_restores_it(
    staff, twilio_number, twilio_rest
):
    page = change_page(staff, twilio_number)
    assert "Connect to Twilio" in page and "Disconnect" not in page

    response = staff.post(f"/admin/agents/phonenumber/{twilio_number.pk}/connect/")
    assert response.status_code == 302, response.content.decode()[:2000]
    on_carrier = twilio_rest.numbers.find(TWILIO_NUMBER)
    assert on_carrier["voice_url"] == f"{PUBLIC}/twilio/voice/"
    assert on_carrier["voice_method"] == "POST"
    assert on_carrier["status_callback"] == f"{PUBLIC}/twilio/status/"
    assert on_carrier["status_callback_method"] == "POST"

    page = change_page(staff, twilio_number)
    assert "now sends its calls to this app" in page
    assert "Disconnect from Twilio" in page
    table = page[page.index('id="carrier-changes"') :]
    assert re.search(
        rf"voice_url</td><td><code>{re.escape(OLD_VOICE_URL)}</code>.*?{PUBLIC}/twilio/voice/", table
    )
    assert re.search(r"voice_method</td><td><code>GET</code>.*?POST", table)
    assert re.search(rf"status_callback</td><td><code>\(empty\)</code>.*?{PUBLIC}/twilio/status/", table)

    response = staff.post(f"/admin/agents/phonenumber/{twilio_number.pk}/disconnect/")
    assert response.status_code == 302
    on_carrier = twilio_rest.numbers.find(TWILIO_NUMBER)
    assert (on_carrier["voice_url"], on_carrier["voice_method"]) == (OLD_VOICE_URL, "GET")
    assert on_carrier["status_callback"] == ""
    page = change_page(staff, twilio_number)
    assert "back to what it was" in page and "Connect to Twilio" in page and "carrier-changes" not in page


def test_connect_links_the_plivo_number_to_an_application_and_disconnect_restores_it(
    staff, plivo_number, plivo_rest, old_app
):
    response = staff.post(f"/admin/agents/phonenumber/{plivo_number.pk}/connect/")
    assert response.status_code == 302, response.content.decode()[:2000]
    app = plivo_rest.numbers.application_of(PLIVO_NUMBER)
    assert app["app_id"] != old_app["app_id"] and app["app_name"] == "contactcenter-cc-example-test"
    assert (app["answer_url"], app["answer_method"]) == (f"{PUBLIC}/plivo/answer/", "POST")
    assert (app["hangup_url"], app["hangup_method"]) == (f"{PUBLIC}/plivo/hangup/", "POST")

    page = change_page(staff, plivo_number)
    assert "Disconnect from Plivo" in page
    table = page[page.index('id="carrier-changes"') :]
    assert re.search(rf"application</td><td><code>{old_app['app_id']}</code>.*?{app['app_id']}", table)
    assert re.search(rf"answer_url</td><td><code>\(empty\)</code>.*?{PUBLIC}/plivo/answer/", table)

    response = staff.post(f"/admin/agents/phonenumber/{plivo_number.pk}/disconnect/")
    assert response.status_code == 302
    assert plivo_rest.numbers.application_of(PLIVO_NUMBER)["app_id"] == old_app["app_id"]
    assert app["app_id"] not in plivo_rest.numbers.applications  # the one we created is gone


def test_a_second_plivo_number_reuses_the_application_by_name(staff, agent, plivo_number, plivo_rest):
    other = PhoneNumber.objects.create(number="+15005550106", carrier="plivo", agent=agent)
    assert staff.post(f"/admin/agents/phonenumber/{plivo_number.pk}/connect/").status_code == 302
    assert staff.post(f"/admin/agents/phonenumber/{other.pk}/connect/").status_code == 302
    first = plivo_rest.numbers.application_of(PLIVO_NUMBER)
    assert plivo_rest.numbers.application_of("+15005550106") is first
    # Disconnecting one keeps the Application the other still uses.
    assert staff.post(f"/admin/agents/phonenumber/{plivo_number.pk}/disconnect/").status_code == 302
    assert first["app_id"] in plivo_rest.numbers.applications
    assert staff.post(f"/admin/agents/phonenumber/{other.pk}/disconnect/").status_code == 302
    assert plivo_rest.numbers.application_of("+15005550106") is None
    assert first["app_id"] not in plivo_rest.numbers.applications  # gone with the last number using it


@pytest.mark.parametrize(
    "base_url, says",
    [
        ("http://127.0.0.1:8000", "loopback"),
        ("https://localhost", "loopback"),
        ("https://[::1]:8443", "loopback"),
        ("https://10.1.2.3", "private"),
        ("https://172.16.0.9", "private"),
        ("https://192.168.1.20", "private"),
        ("https://169.254.10.1", "private"),
        ("https://[fe80::1]", "private"),
        ("https://[fd12:3456::1]", "private"),
        ("http://cc.example.test", "plain http"),
        ("", "not set"),
    ],
)
@pytest.mark.parametrize("carrier", ["twilio", "plivo"])
def test_refused_before_any_carrier_call_when_the_carrier_could_not_reach_us(
    staff, settings, carrier, base_url, says, twilio_number, plivo_number, twilio_rest, plivo_rest
):
    settings.PUBLIC_BASE_URL = base_url
    number = twilio_number if carrier == "twilio" else plivo_number
    response = staff.post(f"/admin/agents/phonenumber/{number.pk}/connect/")
    assert response.status_code == 400
    error = re.search(r'<p class="errornote" id="wiring-error">(.*?)</p>', response.content.decode()).group(1)
    assert says in error and "Set PUBLIC_BASE_URL" in error, error
    assert twilio_rest.rest_requests == [] and plivo_rest.rest_requests == []
    number.refresh_from_db()
    assert number.carrier_link == {}


@pytest.mark.parametrize("carrier", ["twilio", "plivo"])
def test_a_number_the_account_does_not_have_is_refused(staff, agent, carrier):
    number = PhoneNumber.objects.create(number="+14155550199", carrier=carrier, agent=agent)
    response = staff.post(f"/admin/agents/phonenumber/{number.pk}/connect/")
    assert response.status_code == 400
    page = response.content.decode()
    assert "has no number +14155550199" in page and "console" in page, page
    number.refresh_from_db()
    assert number.carrier_link == {}


@pytest.mark.parametrize("carrier", ["twilio", "plivo"])
def test_wrong_or_missing_credentials_are_refused_readably(
    staff, settings, carrier, twilio_number, plivo_number, twilio_rest, plivo_rest
):
    number = twilio_number if carrier == "twilio" else plivo_number
    token = "TWILIO_AUTH_TOKEN" if carrier == "twilio" else "PLIVO_AUTH_TOKEN"
    setattr(settings, token, "not-the-token")
    response = staff.post(f"/admin/agents/phonenumber/{number.pk}/connect/")
    assert response.status_code == 400
    page = response.content.decode()
    assert "refused our credentials" in page and token in page and "Traceback" not in page, page

    setattr(settings, token, "")
    response = staff.post(f"/admin/agents/phonenumber/{number.pk}/connect/")
    assert response.status_code == 400 and "are not set" in response.content.decode()
    assert twilio_rest.numbers.find(TWILIO_NUMBER)["voice_url"] == OLD_VOICE_URL
    number.refresh_from_db()
    assert number.carrier_link == {}


def test_an_unreachable_carrier_api_is_said_in_one_line(staff, settings, twilio_number):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    response = staff.post(f"/admin/agents/phonenumber/{twilio_number.pk}/connect/")
    assert response.status_code == 400
    error = re.search(r'id="wiring-error">(.*?)</p>', response.content.decode()).group(1)
    assert "Could not reach 127.0.0.1:9" in error and "TWILIO_API_BASE_URL" in error, error


def test_a_non_staff_user_cannot_connect_or_disconnect(client, django_user_model, twilio_number, twilio_rest):
    user = django_user_model.objects.create_user("clerk", password="correct horse battery")
    client.force_login(user)
    for action in ("connect", "disconnect"):
        response = client.post(f"/admin/agents/phonenumber/{twilio_number.pk}/{action}/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    # Staff who may only view numbers: refused too.
    viewer = django_user_model.objects.create_user("viewer", password="correct horse battery", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_phonenumber"))
    client.force_login(viewer)
    for action in ("connect", "disconnect"):
        assert client.post(f"/admin/agents/phonenumber/{twilio_number.pk}/{action}/").status_code == 403
    assert (
        "carrier-connect"
        not in client.get(f"/admin/agents/phonenumber/{twilio_number.pk}/change/").content.decode()
    )
    assert twilio_rest.rest_requests == []
    assert twilio_rest.numbers.find(TWILIO_NUMBER)["voice_url"] == OLD_VOICE_URL


def test_connect_needs_the_csrf_token_of_the_page(staff_user, twilio_number, twilio_rest):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    url = f"/admin/agents/phonenumber/{twilio_number.pk}/connect/"
    assert browser.post(url).status_code == 403
    assert twilio_rest.rest_requests == []

    page = change_page(browser, twilio_number)
    form = re.search(r'<form method="post" action="([^"]+)" id="carrier-connect".*?</form>', page, re.S)
    assert form and form.group(1) == url
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(0)).group(1)
    response = browser.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert twilio_rest.numbers.find(TWILIO_NUMBER)["voice_url"] == f"{PUBLIC}/twilio/voice/"
    assert (
        browser.post(url.replace("connect", "disconnect"), {"csrfmiddlewaretoken": token}).status_code == 302
    )


def test_a_twiml_app_on_the_twilio_number_is_cleared_and_put_back(staff, twilio_number, twilio_rest):
    """Twilio ignores the voice URL while a TwiML App is set on the number: connect clears it."""
    app_sid = "AP" + "1" * 32
    twilio_rest.numbers.find(TWILIO_NUMBER)["voice_application_sid"] = app_sid
    assert staff.post(f"/admin/agents/phonenumber/{twilio_number.pk}/connect/").status_code == 302
    on_carrier = twilio_rest.numbers.find(TWILIO_NUMBER)
    assert on_carrier["voice_application_sid"] == "" and on_carrier["voice_url"] == f"{PUBLIC}/twilio/voice/"
    assert re.search(
        rf"voice_application_sid</td><td><code>{app_sid}</code>", change_page(staff, twilio_number)
    )
    assert staff.post(f"/admin/agents/phonenumber/{twilio_number.pk}/disconnect/").status_code == 302
    assert twilio_rest.numbers.find(TWILIO_NUMBER)["voice_application_sid"] == app_sid


def test_our_application_from_before_is_reused_and_its_urls_put_back(
    staff, plivo_number, plivo_rest, old_app
):
    """An Application named for this server already exists (an older install's paths): connect reuses
    and updates it; disconnect relinks the old app and restores the URLs it had."""
    ours = plivo_rest.numbers.create_application(
        "contactcenter-cc-example-test", answer_url=f"{PUBLIC}/old/answer", hangup_url=f"{PUBLIC}/old/hangup"
    )
    try:
        assert staff.post(f"/admin/agents/phonenumber/{plivo_number.pk}/connect/").status_code == 302
        assert plivo_rest.numbers.application_of(PLIVO_NUMBER) is ours
        assert ours["answer_url"] == f"{PUBLIC}/plivo/answer/"
        assert staff.post(f"/admin/agents/phonenumber/{plivo_number.pk}/disconnect/").status_code == 302
        assert plivo_rest.numbers.application_of(PLIVO_NUMBER)["app_id"] == old_app["app_id"]
        assert (ours["answer_url"], ours["hangup_url"]) == (f"{PUBLIC}/old/answer", f"{PUBLIC}/old/hangup")
    finally:
        plivo_rest.numbers.applications.pop(ours["app_id"], None)


def test_the_emulators_serve_the_number_resources_as_the_official_packages_read_them(twilio_rest, plivo_rest):
    """The REST shapes behind the buttons, each read back through `twilio` / `plivo` themselves."""
    from telephony.plivo import rest as plivo_api
    from telephony.twilio import rest as twilio_api

    twilio = twilio_api.client()
    listed = twilio.incoming_phone_numbers.list(phone_number="+1500555000*")
    assert {n.phone_number for n in listed} == {"+15005550006", "+15005550007"}
    fetched = twilio.incoming_phone_numbers(listed[0].sid).fetch()
    assert fetched.sid == listed[0].sid and fetched.voice_method
    with pytest.raises(TwilioRestException) as refused:
        twilio.incoming_phone_numbers("PN" + "0" * 32).fetch()
    assert (refused.value.status, refused.value.code) == (404, 20404)

    plivo = plivo_api.client()
    app_id = plivo.applications.create(app_name="resource-check", answer_url="https://x.example/a").app_id
    assert plivo.applications.get(app_id).answer_url == "https://x.example/a"
    assert [a.app_id for a in plivo.applications.list(app_name="resource-check")] == [app_id]
    plivo.applications.update(app_id, answer_url="https://x.example/b")
    assert plivo.applications.get(app_id).answer_url == "https://x.example/b"
    plivo.numbers.update("15005550106", app_id=app_id)
    assert plivo.numbers.get("15005550106").application.endswith(f"/Application/{app_id}/")
    assert "15005550106" in [n.number for n in plivo.numbers.list()]
    plivo.applications.delete(app_id)
    assert plivo.numbers.get("15005550106").application is None
