"""The Plivo emulator's REST API through the official `plivo` package: calls, live calls, messages.

The package is pointed at the emulator the way the app does it (its base URI constants), and used
as an application would: create a call, find it among the live calls, read it, transfer it, hang it
up, read its call detail record, list records, send and read messages. The answer and transfer XML
come from a small document server, so no app is needed; a long call is a few `<Wait>`s.
"""

from __future__ import annotations

import httpx
import plivo
import plivo.rest.client as plivo_client
import pytest
from plivo import exceptions

from tests.support.documents import serve_documents
from tests.support.waiting import wait_for

TOKEN = "rest-api-test-token"
FROM = "+14155550100"
DOCUMENTS = {
    "/long": "<Response>" + '<Wait length="5"/>' * 6 + "</Response>",
    "/short": "<Response><Speak>hello</Speak></Response>",
    "/transfer": "<Response><Speak>transferred</Speak></Response>",
}


@pytest.fixture(scope="module")
def emulator():
    from emulators.plivo.testing import start_in_thread

    emu = start_in_thread(app_url="http://127.0.0.1:9", auth_token=TOKEN)
    yield emu
    emu.close()


@pytest.fixture(scope="module")
def documents():
    with serve_documents(DOCUMENTS) as served:
        yield served


@pytest.fixture
def client(emulator, monkeypatch) -> plivo.RestClient:
    base = emulator.rest_url + "/v1/Account"
    for name in (
        "PLIVO_API_BASE_URI",
        "API_VOICE_BASE_URI",
        "API_VOICE_BASE_URI_FALLBACK_1",
        "API_VOICE_BASE_URI_FALLBACK_2",
    ):
        monkeypatch.setattr(plivo_client, name, base)
    return plivo.RestClient(emulator.emulator.auth_id, TOKEN, timeout=10)


def place(client: plivo.RestClient, to: str, answer_url: str) -> str:
    """Create a call and return its call UUID, found among the live calls as an application would."""
    client.calls.create(from_=FROM, to_=to, answer_url=answer_url)
    ids = wait_for(lambda: client.live_calls.list_ids(to_number=to).calls, f"a live call to {to}")
    return ids[0]


def record(client: plivo.RestClient, call_uuid: str):
    """The call's detail record, once the call is over."""

    def ended():
        try:
            return client.calls.get(call_uuid)
        except exceptions.ResourceNotFoundError:
            return None

    return wait_for(ended, f"the record of call {call_uuid}")


def test_live_call_then_hangup_gives_a_record_with_times_durations_and_hangup_cause(client, documents):
    base, _ = documents
    to = "+14155550201"
    call_uuid = place(client, to, f"{base}/long")
    live = client.live_calls.get(call_uuid)
    assert (live.call_status, live.direction, live.to) == ("in-progress", "outbound", to.lstrip("+"))
    assert live.session_start and live.request_uuid
    with pytest.raises(exceptions.ResourceNotFoundError):  # no record while the call lasts
        client.calls.get(call_uuid)

    client.calls.delete(call_uuid)
    cdr = record(client, call_uuid)
    assert cdr.call_uuid == call_uuid and cdr.call_direction == "outbound"
    assert (cdr.from_number, cdr.to_number) == (FROM.lstrip("+"), to.lstrip("+"))
    assert (cdr.hangup_cause_name, cdr.hangup_cause_code, cdr.hangup_source) == (
        "Normal Hangup",
        4000,
        "API Request",
    )
    assert isinstance(cdr.call_duration, int) and cdr.bill_duration == cdr.call_duration
    for field in ("initiation_time", "answer_time", "end_time"):
        assert getattr(cdr, field).endswith("+00:00"), field
    assert cdr.initiation_time <= cdr.answer_time <= cdr.end_time
    assert call_uuid not in client.live_calls.list_ids().calls
    with pytest.raises(exceptions.ResourceNotFoundError):
        client.live_calls.get(call_uuid)


def test_busy_call_record_says_busy_and_was_never_answered(client, emulator, documents):
    base, _ = documents
    to = "+14155550202"
    emulator.emulator.outcomes[to] = ["busy"]
    client.calls.create(from_=FROM, to_=to, answer_url=f"{base}/long")
    cdrs = wait_for(lambda: client.calls.list(to_number=to).objects, "the busy call's record")
    cdr = cdrs[0]
    assert (cdr.hangup_cause_name, cdr.hangup_cause_code, cdr.call_state) == ("Busy Line", 3010, "BUSY")
    assert cdr.answer_time is None and cdr.bill_duration == 0


def test_transfer_runs_the_aleg_url_and_the_record_follows(client, emulator, documents):
    base, requested = documents
    to = "+14155550203"
    call_uuid = place(client, to, f"{base}/long")
    client.calls.update(call_uuid, legs="aleg", aleg_url=f"{base}/transfer", aleg_method="POST")
    cdr = record(client, call_uuid)
    assert cdr.call_uuid == call_uuid
    assert "/transfer" in requested
    assert emulator.emulator.calls[call_uuid].spoken == ["transferred"]


def test_list_filters_pages_and_counts_records(client, documents):
    base, _ = documents
    to = "+14155550204"
    for _ in range(3):
        client.calls.create(from_=FROM, to_=to, answer_url=f"{base}/short")
    wait_for(lambda: client.calls.list(to_number=to).meta["total_count"] == 3, "three records")
    first = client.calls.list(to_number=to, limit=2)
    second = client.calls.list(to_number=to, limit=2, offset=2)
    assert len(first.objects) == 2 and len(second.objects) == 1
    assert first.meta["next"] and second.meta["next"] is None and second.meta["previous"]
    uuids = [c.call_uuid for c in first.objects + second.objects]
    assert len(set(uuids)) == 3
    assert all(c.to_number == to.lstrip("+") for c in first.objects + second.objects)
    assert client.calls.list(to_number=to, call_direction="inbound").meta["total_count"] == 0


def test_messages_send_list_and_get(client):
    sent = client.messages.create(src=FROM, dst="+14155550205", text="hello there")
    message_uuid = sent.message_uuid[0]
    fetched = client.messages.get(message_uuid)
    assert (fetched.message_uuid, fetched.to_number, fetched.message_state) == (
        message_uuid,
        "14155550205",
        "queued",
    )
    assert fetched.message_direction == "outbound" and fetched.message_type == "sms"
    assert message_uuid in [m.message_uuid for m in client.messages.list(limit=20)]
    with pytest.raises(exceptions.ResourceNotFoundError):
        client.messages.get("00000000-0000-0000-0000-000000000000")


def test_wrong_credentials_are_refused_and_unknown_paths_are_404_in_plivo_shape(client, emulator):
    wrong = plivo.RestClient(emulator.emulator.auth_id, "not-the-token", timeout=10)
    # (a list would not do: the package's ListResponseObject cannot hold an error body.)
    with pytest.raises(exceptions.AuthenticationError):
        wrong.calls.get("00000000-0000-0000-0000-000000000000")
    auth_id = emulator.emulator.auth_id
    response = httpx.get(
        f"{emulator.rest_url}/v1/Account/{auth_id}/Nothing/", auth=(auth_id, TOKEN), trust_env=False
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not found" and response.json()["api_id"]
