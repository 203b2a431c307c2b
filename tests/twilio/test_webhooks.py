"""Twilio webhooks through Django's request handling: signatures, TwiML answers, the Call row."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from agents.models import PhoneNumber
from calls.models import Call

TOKEN = "unit-twilio-token"
BASE = "https://cc.example.com"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE


@pytest.fixture
def number(agent):
    return PhoneNumber.objects.create(number="+15005550006", carrier="twilio", agent=agent)


def form(**extra):
    data = {
        "CallSid": "CA" + "1" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550100",
        "To": "+15005550006",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    data.update(extra)
    return data


def post_signed(client, path, data, url=None, token=TOKEN):
    signature = RequestValidator(token).compute_signature(url or BASE + path, data)
    return client.post(path, data, HTTP_X_TWILIO_SIGNATURE=signature)


def test_known_number_gets_connect_stream_with_a_token_and_a_ringing_call(client, number):
    response = post_signed(client, "/twilio/voice/", form())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    stream = root.find("Connect/Stream")
    assert stream.get("url") == "wss://cc.example.com/ws/twilio/"
    token = stream.find("Parameter[@name='token']").get("value")
    assert len(token) == 48 and int(token, 16) >= 0
    call = Call.objects.get(carrier_call_id="CA" + "1" * 32)
    assert call.status == "ringing" and call.agent == number.agent
    assert call.from_number == "+14155550100" and call.to_number == "+15005550006"
    assert call.media_token_hash and token not in call.media_token_hash


def test_forged_signature_is_refused_with_403_and_logged(client, number, caplog):
    """Thrown: a webhook signed with the wrong token. Survives: no Call row, a 403, a log line."""
    response = post_signed(client, "/twilio/voice/", form(), token="not-the-token")
    assert response.status_code == 403
    assert not Call.objects.exists()
    assert "bad X-Twilio-Signature" in caplog.text


def test_missing_signature_is_refused(client, number, caplog):
    """Thrown: a webhook with no X-Twilio-Signature. Survives: 403, no Call row, a log line."""
    response = client.post("/twilio/voice/", form())
    assert response.status_code == 403
    assert not Call.objects.exists()
    assert "without X-Twilio-Signature" in caplog.text


def test_signature_covers_the_public_url_not_the_internal_one(client, number):
    """Signed over the internal URL (what the app sees behind a proxy) is refused; the public one passes."""
    internal = post_signed(client, "/twilio/voice/", form(), url="http://testserver/twilio/voice/")
    assert internal.status_code == 403
    assert post_signed(client, "/twilio/voice/", form()).status_code == 200


def test_without_public_base_url_the_request_uri_is_used(client, number, settings):
    settings.PUBLIC_BASE_URL = ""
    response = post_signed(client, "/twilio/voice/", form(), url="http://testserver/twilio/voice/")
    assert response.status_code == 200
    assert ET.fromstring(response.content).find("Connect/Stream").get("url") == "ws://testserver/ws/twilio/"


def test_tampered_parameter_breaks_the_signature(client, number):
    """Thrown: a valid signature but To changed afterwards. Survives: 403."""
    data = form()
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/twilio/voice/", data)
    data["To"] = "+15005550007"
    assert client.post("/twilio/voice/", data, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403


def test_unknown_number_hears_an_apology_and_is_hung_up(client, number):
    """Thrown: a call to a number bound to no agent. Survives: TwiML <Say> + <Hangup>, and a refused
    Call row that says why, so the supervisor sees the call (a replay finds the same row)."""
    response = post_signed(client, "/twilio/voice/", form(To="+15005550999"))
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "not in service" in root.find("Say").text
    call = Call.objects.get()
    assert (call.carrier, call.status, call.to_number) == ("twilio", "refused", "+15005550999")
    assert call.end_reason == "no agent (unknown)" and call.ended_at is not None


def test_status_callback_closes_a_call_whose_stream_never_started(client, number):
    post_signed(client, "/twilio/voice/", form())
    response = post_signed(client, "/twilio/status/", form(CallStatus="no-answer"))
    assert response.status_code == 204
    call = Call.objects.get()
    assert call.status == "no_answer" and call.ended_at is not None


def stream_token(response) -> str | None:
    parameter = ET.fromstring(response.content).find("Connect/Stream/Parameter[@name='token']")
    return None if parameter is None else parameter.get("value")


def test_a_replayed_voice_webhook_gets_no_second_token(client, number, caplog):
    """Thrown: the same signed voice webhook (same CallSid) posted again while the call rings, and
    again after it ended, as whoever captured it could. Survives: only the first answer has a stream
    and a token; the replays get <Reject/>, no second Call row, the first token still opens the
    call (on Twilio only), and a log line names the replay."""
    from telephony import media_token

    token = stream_token(post_signed(client, "/twilio/voice/", form()))
    assert token
    replay = post_signed(client, "/twilio/voice/", form())
    assert replay.status_code == 200
    assert [child.tag for child in ET.fromstring(replay.content)] == ["Reject"]
    assert stream_token(replay) is None
    assert "replayed" in caplog.text and "CA" + "1" * 32 in caplog.text
    assert Call.objects.count() == 1
    assert media_token.consume(token, "twilio").pk == Call.objects.get().pk

    Call.objects.update(status="completed")
    after_the_end = post_signed(client, "/twilio/voice/", form())
    assert [child.tag for child in ET.fromstring(after_the_end.content)] == ["Reject"]
    assert Call.objects.count() == 1


def test_status_callback_needs_a_signature(client, number):
    post_signed(client, "/twilio/voice/", form())
    assert client.post("/twilio/status/", form(CallStatus="completed")).status_code == 403
    assert Call.objects.get().status == "ringing"


def test_admin_shows_the_webhook_urls_to_paste_into_the_console(client, staff_user, number, agent):
    from agents.models import PhoneNumber

    plivo = PhoneNumber.objects.create(number="+15005550106", carrier="plivo", agent=agent)
    client.force_login(staff_user)
    page = client.get(f"/admin/agents/phonenumber/{number.pk}/change/").content.decode()
    assert "https://cc.example.com/twilio/voice/" in page
    assert "https://cc.example.com/twilio/status/" in page
    page = client.get(f"/admin/agents/phonenumber/{plivo.pk}/change/").content.decode()
    assert "https://cc.example.com/plivo/answer/" in page
    assert "https://cc.example.com/plivo/hangup/" in page


def test_number_set_to_sip_media_is_dialled_to_runsip(client, agent, settings):  # noqa: D103
    """Seed 003's flow: a Twilio number set to "SIP to runsip" answers with <Dial><Sip>, and runsip's
    routing finds the same agent for the user part Twilio will INVITE."""
    from agents.models import PhoneNumber
    from agents.routing import route_number

    settings.SIP_ADVERTISE_HOST = "sip.example.com"
    settings.SIP_PORT = 5080
    PhoneNumber.objects.create(number="+14155550142", carrier="twilio", agent=agent, twilio_media="sip")
    response = post_signed(client, "/twilio/voice/", form(To="+14155550142"))
    assert response.status_code == 200
    sip = ET.fromstring(response.content).find("Dial/Sip")
    assert sip.text.strip() == "sip:+14155550142@sip.example.com:5080"
    assert not Call.objects.exists()  # runsip creates the Call when Twilio's INVITE arrives
    assert route_number("sip", "sip:+14155550142@sip.example.com").agent == agent


def test_admin_warns_that_a_carrier_cannot_reach_a_loopback_public_url(client, staff_user, number, settings):
    """Thrown: PUBLIC_BASE_URL left at ./run's http://127.0.0.1:8000. Survived: the number's page still
    shows the URLs, and says a carrier cannot reach that address and what to set instead; a public
    https address shows no warning."""
    client.force_login(staff_user)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    page = client.get(f"/admin/agents/phonenumber/{number.pk}/change/").content.decode()
    assert "http://127.0.0.1:8000/twilio/voice/" in page
    assert "A carrier cannot reach 127.0.0.1: it is this machine&#x27;s loopback address." in page
    settings.PUBLIC_BASE_URL = "https://cc.example.com"
    page = client.get(f"/admin/agents/phonenumber/{number.pk}/change/").content.decode()
    assert "A carrier cannot reach" not in page and "plain http" not in page
