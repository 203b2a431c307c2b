"""Plivo webhooks through Django's request handling: V3 signatures, Plivo XML answers, the Call row."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET

import pytest
from django.core.cache import cache
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

from agents.models import PhoneNumber
from calls.models import Call

TOKEN = "unit-plivo-token"
BASE = "https://cc.example.com"
UUID = "3b1b0b7e-2f0a-4a54-9a5e-1f6f5d1c0a11"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def plivo_settings(settings):
    settings.PLIVO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE
    cache.clear()  # nonces seen by earlier tests


@pytest.fixture
def number(agent):
    return PhoneNumber.objects.create(number="+15005550106", carrier="plivo", agent=agent)


def form(**extra):
    data = {
        "CallUUID": UUID,
        "From": "14155550100",
        "To": "15005550106",
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    data.update(extra)
    return data


def post_signed(client, path, data, url=None, token=TOKEN, nonce=None):
    """Signed as Plivo signs: a fresh random nonce per request unless one is given."""
    nonce = nonce or "".join(secrets.choice("0123456789") for _ in range(20))
    base = construct_post_url(url or BASE + path, dict(data)).decode()
    signature = get_signature_v3(token, base, nonce).decode()
    return client.post(
        path, data, HTTP_X_PLIVO_SIGNATURE_V3=f"bogus=,{signature}", HTTP_X_PLIVO_SIGNATURE_V3_NONCE=nonce
    )


def test_known_number_gets_a_bidirectional_ulaw_stream_with_a_token(client, number):
    response = post_signed(client, "/plivo/answer/", form())
    assert response.status_code == 200
    stream = ET.fromstring(response.content).find("Stream")
    assert stream.text == "wss://cc.example.com/ws/plivo/"
    assert stream.get("bidirectional") == "true" and stream.get("keepCallAlive") == "true"
    assert stream.get("audioTrack") == "inbound"
    assert stream.get("contentType") == "audio/x-mulaw;rate=8000"
    key, _, token = stream.get("extraHeaders").partition("=")
    assert key == "token" and token.isalnum() and int(token, 16) >= 0
    call = Call.objects.get(carrier_call_id=UUID)
    assert call.status == "ringing" and call.carrier == "plivo"
    assert call.from_number == "+14155550100" and call.to_number == "+15005550106"


def test_forged_signature_is_refused_with_403_and_logged(client, number, caplog):
    """Thrown: an answer callback signed with another token. Survives: 403, no Call, a log line."""
    assert post_signed(client, "/plivo/answer/", form(), token="other").status_code == 403
    assert not Call.objects.exists()
    assert "bad X-Plivo-Signature-V3" in caplog.text


def test_missing_signature_headers_are_refused(client, number, caplog):
    """Thrown: no signature headers at all. Survives: 403, no Call, a log line."""
    assert client.post("/plivo/answer/", form()).status_code == 403
    assert not Call.objects.exists()
    assert "without X-Plivo-Signature-V3" in caplog.text


def test_signature_covers_the_public_url(client, number):
    assert (
        post_signed(client, "/plivo/answer/", form(), url="http://testserver/plivo/answer/").status_code
        == 403
    )
    assert post_signed(client, "/plivo/answer/", form()).status_code == 200


def test_unknown_number_hears_an_apology_and_is_hung_up(client, number):
    """Thrown: a call to a number bound to no agent. Survives: <Speak> + <Hangup>, and a refused Call
    row that says why, so the supervisor sees the call."""
    response = post_signed(client, "/plivo/answer/", form(To="15005550999"))
    root = ET.fromstring(response.content)
    assert [child.tag for child in root] == ["Speak", "Hangup"]
    assert "not in service" in root.find("Speak").text
    call = Call.objects.get()
    assert (call.carrier, call.status, call.end_reason) == ("plivo", "refused", "no agent (unknown)")


def test_a_replayed_nonce_is_refused_with_403(client, number, caplog):
    """Thrown: the same signed answer request (same nonce, same signature) sent twice. Survives: the
    first gets its stream, the second a 403 and a log line; a request with a fresh nonce passes."""
    nonce = "98765432109876543210"
    assert post_signed(client, "/plivo/answer/", form(), nonce=nonce).status_code == 200
    assert post_signed(client, "/plivo/answer/", form(), nonce=nonce).status_code == 403
    assert "replayed X-Plivo-Signature-V3-Nonce" in caplog.text
    hangup = post_signed(client, "/plivo/hangup/", form(Event="Hangup", CallStatus="completed"))
    assert hangup.status_code == 204
    assert Call.objects.get().status == "completed"


def test_a_second_answer_for_one_call_gets_no_stream(client, number, caplog):
    """Thrown: the answer webhook for one CallUUID again, freshly signed (a carrier retry or a replay
    past the nonce window). Survives: <Hangup/> with no <Stream> and no token, one Call row, a log line."""
    first = ET.fromstring(post_signed(client, "/plivo/answer/", form()).content)
    assert first.find("Stream") is not None
    again = ET.fromstring(post_signed(client, "/plivo/answer/", form()).content)
    assert [child.tag for child in again] == ["Hangup"]
    assert Call.objects.count() == 1
    assert "replayed" in caplog.text


def test_hangup_callback_closes_a_call_whose_stream_never_started(client, number):
    post_signed(client, "/plivo/answer/", form())
    response = post_signed(client, "/plivo/hangup/", form(Event="Hangup", CallStatus="completed"))
    assert response.status_code == 204
    assert Call.objects.get().status == "completed"


def test_transfer_xml_dials_the_destination_and_needs_a_signature(client, number):
    path = "/plivo/transfer/?to=%2B15551230000"
    assert client.post(path, form()).status_code == 403
    response = post_signed(client, path, form())
    assert ET.fromstring(response.content).find("Dial/Number").text == "+15551230000"


# --- warm transfer: the person's webhooks (telephony/plivo/warm.py) --------------------------------------
@pytest.fixture
def pending_transfer():
    """A warm transfer whose port is waiting (what it keeps in the cache for the person's webhooks)."""
    from telephony.plivo import warm

    state = {
        "brief": "Call from +14155550100 about a refund.",
        "room": warm.room_for(UUID),
        "target_name": "Sales",
    }
    cache.set(warm.CACHE_PREFIX + "abc123", state, 60)
    return state


def test_warm_transfer_person_hears_the_brief_and_is_asked_for_one_key(client, pending_transfer):
    response = post_signed(client, "/plivo/warm/abc123/answer/", form(Direction="outbound"))
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.find("Speak").text == pending_transfer["brief"]
    ask = root.find("GetDigits")
    assert ask.get("action") == BASE + "/plivo/warm/abc123/digits/"
    assert (ask.get("numDigits"), ask.get("validDigits")) == ("1", "12")
    assert root[-1].tag == "Redirect" and root[-1].text == ask.get("action")  # no key: posted without one


def test_warm_transfer_person_pressing_no_key_hears_goodbye(client, pending_transfer):
    response = post_signed(client, "/plivo/warm/abc123/digits/", form(Direction="outbound"))
    root = ET.fromstring(response.content)
    assert [e.tag for e in root] == ["Speak", "Hangup"] and "No key" in root[0].text


def test_warm_transfer_webhooks_are_signed_and_single_use(client, pending_transfer):
    """Thrown: the person's key posted unsigned, then a correctly signed post replayed with its nonce.
    Survives: both refused with 403; only the first signed post puts the person in the caller's room."""
    path = "/plivo/warm/abc123/digits/"
    assert client.post(path, form(Digits="1")).status_code == 403
    nonce = "48151623420815162342"
    first = post_signed(client, path, form(Digits="1"), nonce=nonce)
    assert first.status_code == 200
    assert ET.fromstring(first.content).find("Conference").text == pending_transfer["room"]
    assert post_signed(client, path, form(Digits="1"), nonce=nonce).status_code == 403


def test_warm_transfer_over_or_unknown_hangs_the_person_up(client):
    """Thrown: the person answers after the transfer ended (or with a made-up token). Survives: they
    are hung up, not left on a silent line; and a caller cannot be sent into another call's room."""
    response = post_signed(client, "/plivo/warm/gone999/answer/", form(Direction="outbound"))
    assert response.status_code == 200 and ET.fromstring(response.content)[0].tag == "Hangup"
    other = post_signed(client, "/plivo/warm/gone999/conference/?room=cc-warm-someone-else", form())
    assert other.status_code == 400
