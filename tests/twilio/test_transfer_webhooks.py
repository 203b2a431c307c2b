"""The person's answer to a Twilio warm transfer, through Django's request handling: the <Gather> action
and the status callback are signed like every Twilio webhook, decide once per token (a replay is told
the call was handled), and wake the port waiting in this process or, from another process, through
the channel layer."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from asgiref.sync import sync_to_async
from twilio.request_validator import RequestValidator

from telephony.twilio import handoff

TOKEN = "unit-twilio-token"
BASE = "https://cc.example.com"
PERSON = {"CallSid": "CA" + "2" * 32, "AccountSid": "AC" + "0" * 32, "To": "+15005550201"}

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE


async def _post(client, url: str, data: dict, token: str = TOKEN):
    signature = RequestValidator(token).compute_signature(url, data)
    return await sync_to_async(client.post)(url[len(BASE) :], data, HTTP_X_TWILIO_SIGNATURE=signature)


async def _offered() -> handoff.Waiter:
    token = handoff.new_token()
    waiter = handoff.Waiter(token, room=f"handoff-{token}")
    await waiter.open(30)
    return waiter


async def test_one_accepts_joins_the_room_and_a_replay_is_refused(client):
    waiter = await _offered()
    answer, _ = handoff.urls(waiter.token)
    response = await _post(client, answer, {**PERSON, "Digits": "1"})
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    assert root.find("Dial/Conference").text == waiter.room
    assert root.find("Dial/Conference").get("endConferenceOnExit") == "true"
    assert await waiter.result(5) == {"status": "accepted", "detail": "the person accepted"}

    replay = await _post(client, answer, {**PERSON, "Digits": "1"})
    root = ET.fromstring(replay.content)
    assert root.find("Dial") is None and root.find("Hangup") is not None
    assert "already been handled" in root.find("Say").text
    await waiter.close()


@pytest.mark.parametrize(
    ("said", "status"),
    [({"Digits": "2"}, "declined"), ({"SpeechResult": "No."}, "declined"), ({"SpeechResult": "Yes."}, "accepted"),
     ({}, "no-answer")],
)  # fmt: skip
async def test_keys_and_words_decide(client, said, status):
    waiter = await _offered()
    answer, _ = handoff.urls(waiter.token)
    response = await _post(client, answer, {**PERSON, **said})
    assert response.status_code == 200
    assert (await waiter.result(5))["status"] == status
    await waiter.close()


async def test_unsigned_or_forged_answers_are_refused(client):
    """Thrown: an answer with no signature and one signed with another token. Survived: 403 both times,
    and the transfer is still undecided (a signed answer afterwards decides it)."""
    waiter = await _offered()
    answer, _ = handoff.urls(waiter.token)
    unsigned = await sync_to_async(client.post)(answer[len(BASE) :], {**PERSON, "Digits": "1"})
    forged = await _post(client, answer, {**PERSON, "Digits": "1"}, token="not-the-token")
    assert unsigned.status_code == 403 and forged.status_code == 403
    assert await waiter.result(0.3) is None
    await _post(client, answer, {**PERSON, "Digits": "2"})
    assert (await waiter.result(5))["status"] == "declined"
    await waiter.close()


async def test_unknown_token_hangs_up_the_person(client):
    response = await _post(client, handoff.urls("0" * 32)[0], {**PERSON, "Digits": "1"})
    root = ET.fromstring(response.content)
    assert root.find("Dial") is None and root.find("Hangup") is not None


async def test_status_callback_decides_busy_unless_the_gather_did(client):
    busy = await _offered()
    await _post(client, handoff.urls(busy.token)[1], {**PERSON, "CallStatus": "busy"})
    assert (await busy.result(5))["status"] == "busy"
    await busy.close()

    taken = await _offered()
    answer, status = handoff.urls(taken.token)
    await _post(client, answer, {**PERSON, "Digits": "1"})
    # The person's call completes when the conference ends: no second decision.
    response = await _post(client, status, {**PERSON, "CallStatus": "completed"})
    assert response.status_code == 204
    assert (await taken.result(5))["status"] == "accepted"
    await taken.close()


async def test_an_answer_reaching_another_process_arrives_over_the_channel_layer(client, monkeypatch):
    """Thrown: the webhook lands in a process that does not hold the call (this process's registry of
    waiting transfers is empty for it). Survived: the decision reaches the waiter through the channel
    layer group of its token."""
    waiter = await _offered()
    monkeypatch.setattr(handoff, "_waiting", {})
    await _post(client, handoff.urls(waiter.token)[0], {**PERSON, "Digits": "2"})
    assert await waiter.result(5) == {"status": "declined", "detail": "the person declined"}
    await waiter.close()
