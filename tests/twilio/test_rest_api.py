"""The Twilio emulator's REST API through the official `twilio` package: calls and messages.

Each test uses the package exactly as an application would (`client.api.base_url` pointed at the
emulator): list with filters and paging, fetch, update (hang up, new TwiML, new URL), delete, and
messages. Calls run TwiML given at create time or served by a small document server, so no app is
needed; a long call is a few `<Pause>`s.
"""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tests.support.documents import serve_documents
from tests.support.waiting import wait_for

SHORT = "<Response><Say>hello</Say></Response>"
LONG = "<Response>" + '<Pause length="5"/>' * 6 + "</Response>"
FROM = "+15559870000"
TOKEN = "rest-api-test-token"


@pytest.fixture(scope="module")
def emulator():
    from emulators.twilio.testing import start_in_thread

    emu = start_in_thread(app_url="http://127.0.0.1:9", auth_token=TOKEN)
    yield emu
    emu.close()


@pytest.fixture
def client(emulator, monkeypatch) -> Client:
    for name in ("TWILIO_REGION", "TWILIO_EDGE"):
        monkeypatch.delenv(name, raising=False)
    api = Client(emulator.emulator.account_sid, TOKEN)
    api.api.base_url = emulator.rest_url
    return api


def finished(client: Client, sid: str) -> object:
    """The call once its status is final (polled through the API, as an application would)."""
    return wait_for(
        lambda: (
            (c := client.calls(sid).fetch()).status
            in ("completed", "busy", "no-answer", "failed", "canceled")
            and c
        ),
        f"call {sid} to end",
        timeout=30,
    )


def test_list_filters_by_to_and_status_and_pages_through_every_call(client, emulator):
    to, other = "+15551230001", "+15551230002"
    short = [client.calls.create(to=to, from_=FROM, twiml=SHORT).sid for _ in range(3)]
    long = client.calls.create(to=to, from_=FROM, twiml=LONG).sid
    client.calls.create(to=other, from_=FROM, twiml=SHORT)
    for sid in short:
        finished(client, sid)

    listed = client.calls.list(to=to, page_size=2)  # three pages of two, followed by the package
    assert [c.sid for c in listed] == [long, *reversed(short)]  # newest first
    done = client.calls.list(to=to, status="completed", page_size=2)
    assert sorted(c.sid for c in done) == sorted(short)
    live = client.calls.list(to=to, status="in-progress")
    assert [c.sid for c in live] == [long]
    assert client.calls.list(to=to, limit=1)[0].sid == long

    # The page as Twilio sends it: records under "calls" beside the paging keys.
    account = emulator.emulator.account_sid
    response = httpx.get(
        f"{emulator.rest_url}/2010-04-01/Accounts/{account}/Calls.json",
        params={"To": to, "PageSize": 2},
        auth=(account, TOKEN),
        trust_env=False,
    )
    page = response.json()
    assert response.status_code == 200, page
    assert set(page) == {
        "calls", "page", "page_size", "start", "end", "uri", "first_page_uri", "next_page_uri", "previous_page_uri"
    }  # fmt: skip
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert page["next_page_uri"].startswith(f"/2010-04-01/Accounts/{account}/Calls.json?")
    assert "PageToken=PA" in page["next_page_uri"] and page["previous_page_uri"] is None
    client.calls(long).update(status="completed")


def test_call_json_carries_dates_duration_price_and_numbers_as_twilio_does(client, emulator):
    sid = client.calls.create(to="+15551230003", from_=FROM, twiml=LONG, machine_detection="Enable").sid
    live = wait_for(lambda: (c := client.calls(sid).fetch()).status == "in-progress" and c, "answer")
    assert isinstance(live.start_time, datetime) and isinstance(live.date_created, datetime)
    assert live.end_time is None and live.duration is None
    assert live.answered_by == "human" and live.direction == "outbound-api"

    client.calls(sid).update(status="completed")
    call = finished(client, sid)
    assert call.status == "completed"
    # The package parses RFC 2822 dates into datetimes: each one came back in Twilio's format.
    for field in ("date_created", "date_updated", "start_time", "end_time"):
        assert isinstance(getattr(call, field), datetime), field
    assert call.end_time >= call.start_time >= call.date_created.replace(microsecond=0)
    assert call.duration.isdigit()
    assert (call.price, call.price_unit) == (None, "USD")
    assert (call.to, call.to_formatted) == ("+15551230003", "(555) 123-0003")
    assert call.from_formatted == "(555) 987-0000"
    assert call.parent_call_sid is None and call.api_version == "2010-04-01"
    account = emulator.emulator.account_sid
    assert call.uri == f"/2010-04-01/Accounts/{account}/Calls/{sid}.json"
    assert (
        call.subresource_uris["recordings"] == f"/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings.json"
    )
    raw = httpx.get(f"{emulator.rest_url}{call.uri}", auth=(account, TOKEN), trust_env=False).json()
    assert raw["from"] == FROM and raw["end_time"].endswith(" +0000") and raw["price"] is None


def test_busy_call_has_status_busy_and_no_duration(client, emulator):
    emulator.emulator.outcomes["+15551230004"] = ["busy"]
    call = finished(client, client.calls.create(to="+15551230004", from_=FROM, twiml=SHORT).sid)
    assert (call.status, call.duration, call.answered_by) == ("busy", "0", None)


def test_update_runs_new_twiml_or_url_and_a_finished_call_cannot_be_redirected(client, emulator):
    with serve_documents({"/next": "<Response><Say>from the url</Say></Response>"}) as (base, requested):
        by_twiml = client.calls.create(to="+15551230005", from_=FROM, twiml=LONG).sid
        by_url = client.calls.create(to="+15551230005", from_=FROM, twiml=LONG).sid
        for sid in (by_twiml, by_url):
            wait_for(lambda sid=sid: client.calls(sid).fetch().status == "in-progress", "answer")
        client.calls(by_twiml).update(twiml="<Response><Say>new twiml</Say></Response>")
        client.calls(by_url).update(url=f"{base}/next", method="POST")
        assert finished(client, by_twiml).status == "completed"
        assert finished(client, by_url).status == "completed"
        assert requested == ["/next"]
    calls = emulator.emulator.calls
    assert calls[by_twiml].said == ["new twiml"] and calls[by_url].said == ["from the url"]

    with pytest.raises(TwilioRestException) as refused:
        client.calls(by_twiml).update(twiml=SHORT)
    assert (refused.value.status, refused.value.code) == (400, 21220)


def test_delete_only_a_finished_call_then_it_is_gone(client):
    sid = client.calls.create(to="+15551230006", from_=FROM, twiml=LONG).sid
    with pytest.raises(TwilioRestException) as early:
        client.calls(sid).delete()
    assert early.value.code == 20009

    client.calls(sid).update(status="completed")
    finished(client, sid)
    assert client.calls(sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.calls(sid).fetch()
    assert (gone.value.status, gone.value.code) == (404, 20404)
    assert sid not in [c.sid for c in client.calls.list(to="+15551230006")]


def test_messages_create_list_and_fetch(client):
    to = "+15551230007"
    first = client.messages.create(to=to, from_=FROM, body="first")
    second = client.messages.create(to=to, from_=FROM, body="second")
    client.messages.create(to="+15551230008", from_=FROM, body="elsewhere")
    assert [m.sid for m in client.messages.list(to=to, page_size=1)] == [second.sid, first.sid]
    fetched = client.messages(first.sid).fetch()
    assert (fetched.body, fetched.to, fetched.from_, fetched.status) == ("first", to, FROM, "queued")
    assert isinstance(fetched.date_created, datetime) and fetched.price_unit == "USD"
    with pytest.raises(TwilioRestException) as missing:
        client.messages("SM" + "0" * 32).fetch()
    assert missing.value.code == 20404


def test_wrong_credentials_are_401_and_unknown_paths_404_in_twilio_shape(client, emulator):
    account = emulator.emulator.account_sid
    wrong = Client(account, "not-the-token")
    wrong.api.base_url = emulator.rest_url
    with pytest.raises(TwilioException, match="20003"):  # a list raises the page's 401 as it came
        wrong.calls.list()
    with pytest.raises(TwilioRestException) as refused:
        wrong.calls("CA" + "0" * 32).fetch()
    assert (refused.value.status, refused.value.code) == (401, 20003)

    response = httpx.get(
        f"{emulator.rest_url}/2010-04-01/Accounts/{account}/Nothing.json",
        auth=(account, TOKEN),
        trust_env=False,
    )
    assert response.status_code == 404
    assert response.json()["code"] == 20404 and response.json()["status"] == 404
