"""Outbound calls end to end on every carrier emulator, answering-machine detection, campaigns with
busy / no-answer retries, and scheduled callbacks that fire once.

The scheduler is ticked directly (`campaigns.scheduler.tick`) in this process, which dials through
the same carrier emulators as the daphne / runasterisk children that carry the calls' media.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from calls.models import Call
from campaigns import scheduler
from campaigns.models import Campaign, CampaignContact, ScheduledCallback
from telephony.outbound import place_call
from tests.support.carrier import heard, heard_agent_line
from tests.tools.carriers import PLIVO_OURS, TWILIO_OURS, stored_call, wait_for, wait_sync

pytestmark = [pytest.mark.django_db(transaction=True)]


def said_anywhere(gemini, text: str) -> bool:
    """True when some Gemini emulator session's model said `text` (the greeting it was asked to say)."""
    return any(text.lower() in s.lower() for session in gemini.sessions for s in session.said)


async def emulator_call(emu, sid_or_uuid: str):
    """The emulator's call object for an id our side got back from the carrier."""

    async def find():
        calls = emu.emulator.calls
        return calls.get(sid_or_uuid) or next(
            (c for c in calls.values() if getattr(c, "request_uuid", None) == sid_or_uuid), None
        )

    for _ in range(100):
        call = await emu.run(find())
        if call is not None:
            return call
        await asyncio.sleep(0.05)
    raise AssertionError(f"the emulator has no call {sid_or_uuid}")


def api_token() -> str:
    from calls.api.tokens import mint

    return mint("outbound tests")[1]


# --- one call per carrier -------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_api_places_a_twilio_call_that_talks_and_is_stored(here, twilio_emu, tool_agent, tools_gemini):
    token = await sync_to_async(api_token)()
    async with httpx.AsyncClient(base_url=here.url, trust_env=False) as http:
        response = await http.post(
            "/api/calls/outbound",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "agent": tool_agent.name,
                "to": "+14155550201",
                "carrier": "twilio",
                "variables": {"name": "Ada"},
            },
        )
    assert response.status_code == 201, response.text
    call_id = response.json()["call_id"]
    row = await sync_to_async(Call.objects.get)(pk=call_id)
    assert row.direction == "outbound" and row.from_number == TWILIO_OURS and row.agent_id == tool_agent.pk
    created = [r for r in twilio_emu.emulator.rest_requests if r[1].endswith("/Calls.json")]
    assert created[-1][2]["To"] == ["+14155550201"] and f"call={call_id}" in created[-1][2]["Url"][0]

    call = await emulator_call(twilio_emu, row.carrier_call_id)
    await twilio_emu.run(call.answered())
    assert call.direction == "outbound-api" and call.stream_started.is_set(), call.errors
    # The greeting, checked on the words (a grammar of the agent's lines) and on the signal: the free
    # decoder's guess ("so and recalling a band...") varied with the machine's load.
    assert await heard_agent_line(twilio_emu, call) == tool_agent.greeting
    await twilio_emu.run(call.say("hello"))
    assert await heard(twilio_emu, call)
    await twilio_emu.run(call.hangup())

    stored = await wait_for(lambda: stored_call(pk=call_id), what="stored outbound call")
    assert stored.status == "completed" and stored.variables["name"] == "Ada"
    speakers = await sync_to_async(lambda: list(stored.segments.values_list("speaker", flat=True)))()
    assert speakers.count("agent") >= 2 and "caller" in speakers
    assert [c[0] for c in call.callbacks][:3] == ["queued", "ringing", "in-progress"]  # progress reported


def test_api_refuses_bad_requests_naming_the_field(here, tool_agent):
    """Thrown at it: no token, a missing agent, an unknown carrier, a non-E.164 number, a non-object
    body. Survives: 401 / 400 with the field named; no call row and no carrier request."""
    token = api_token()
    auth = {"Authorization": f"Bearer {token}"}
    url = here.url + "/api/calls/outbound"
    assert httpx.post(url, json={}, trust_env=False).status_code == 401
    cases = [
        ({"to": "+14155550100", "carrier": "twilio"}, "agent"),
        ({"agent": "nobody", "to": "+14155550100", "carrier": "twilio"}, "agent"),
        ({"agent": tool_agent.pk, "to": "+14155550100", "carrier": "sip"}, "carrier"),
        ({"agent": tool_agent.pk, "to": "0800 FLOWERS", "carrier": "twilio"}, "to"),
        ({"agent": tool_agent.pk, "to": "+14155550100", "carrier": "plivo", "variables": [1]}, "variables"),
    ]
    for body, field in cases:
        response = httpx.post(url, json=body, headers=auth, trust_env=False)
        assert response.status_code == 400 and response.json()["field"] == field, (body, response.text)
    response = httpx.post(url, content=b"[1, 2]", headers=auth, trust_env=False)
    assert response.status_code == 400 and "JSON object" in response.json()["error"]
    assert not Call.objects.filter(direction="outbound").exists()


def test_a_staff_session_needs_csrf_to_place_a_call_and_a_bearer_token_does_not(
    here, twilio_emu, tool_agent, staff_user
):
    """Thrown: a POST to /api/calls/outbound riding only on a signed-in staff member's session
    cookie, with no CSRF token (what a cross-site form post sends). Survives: 403, no Call, no
    carrier request. The same session with its CSRF token, and a Bearer token with none, still
    place calls (the callee is busy, so nothing talks)."""
    number = "+14155550299"
    twilio_emu.emulator.outcomes[number] = ["busy", "busy"]
    body = json.dumps({"agent": tool_agent.name, "to": number, "carrier": "twilio"})
    dialled = len(twilio_emu.emulator.rest_requests)

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    forged = browser.post("/api/calls/outbound", body, content_type="text/plain")
    assert forged.status_code == 403 and "CSRF" in forged.json()["error"]
    assert not Call.objects.filter(direction="outbound").exists()
    assert len(twilio_emu.emulator.rest_requests) == dialled

    browser.get("/outbound/call/")  # any page of ours sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    own = browser.post("/api/calls/outbound", body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert own.status_code == 201, own.content

    api = Client(enforce_csrf_checks=True)
    token = api.post(
        "/api/calls/outbound",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_token()}",
    )
    assert token.status_code == 201, token.content
    assert Call.objects.filter(direction="outbound", to_number=number).count() == 2


@pytest.mark.asyncio
async def test_plivo_outbound_call_with_a_campaign_greeting(here, plivo_emu, tool_agent, tools_gemini):
    variables = {"name": "Grace", "_greeting": "Hello {name}, this is Example Corp calling about your order."}
    row = await sync_to_async(place_call)(tool_agent, "plivo", "+14155550202", "", variables)
    created = [r for r in plivo_emu.emulator.rest_requests if r[1].endswith("/Call/")]
    assert created[-1][2]["from"] == PLIVO_OURS and f"call={row.pk}" in created[-1][2]["answer_url"]
    call = await emulator_call(plivo_emu, row.carrier_call_id)
    await plivo_emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    greeting = await heard(plivo_emu, call)
    assert {"hello", "order", "example", "calling"} & set(greeting.split()), greeting
    assert said_anywhere(tools_gemini, "Hello Grace, this is Example Corp")
    await plivo_emu.run(call.hangup())
    stored = await wait_for(lambda: stored_call(pk=row.pk), what="stored plivo call")
    assert stored.carrier_call_id == call.uuid and stored.status == "completed"
    assert await sync_to_async(stored.segments.filter(speaker="agent").exists)()


def test_asterisk_originate_answered_then_busy(ari_settings, tool_agent, tools_gemini):
    from emulators.gemini.speech import flite_pcm
    from tests.asterisk.test_calls import next_reply

    asterisk = ari_settings
    asterisk.call(lambda: asterisk.emulator.outcomes.update({"+14155550204": ["busy"]}))
    row = place_call(tool_agent, "asterisk", "+14155550203", "", {"name": "Linus"})
    originate = asterisk.emulator.originated[-1]
    assert originate["endpoint"] == "PJSIP/+14155550203@trunk"
    assert originate["appArgs"] == f"outbound,{row.pk}" and originate["app"] == ari_settings_app(asterisk)
    chan = asterisk.wait_for(
        lambda: asterisk.emulator.channels.get(row.carrier_call_id), what="originated channel"
    )
    _, end, _ = next_reply(asterisk, chan, 0)
    asterisk.say(chan, flite_pcm("hello", 16000))
    next_reply(asterisk, chan, end)
    asterisk.hangup(chan)
    stored = wait_sync(lambda: stored_call(pk=row.pk), what="stored asterisk call")
    assert stored.direction == "outbound" and stored.agent_id == tool_agent.pk
    assert (
        stored.segments.filter(speaker="caller").exists() and stored.segments.filter(speaker="agent").exists()
    )

    busy = place_call(tool_agent, "asterisk", "+14155550204")
    wait_sync(
        lambda: Call.objects.get(pk=busy.pk).status == "busy", what="busy reported through ChannelDestroyed"
    )
    assert Call.objects.get(pk=busy.pk).end_reason == "asterisk: User busy"


def ari_settings_app(asterisk) -> str:
    from django.conf import settings

    return settings.ARI_APP


# --- answering machines ---------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_twilio_machine_hears_the_voicemail_then_the_agent_hangs_up(
    here, twilio_emu, tool_agent, tools_gemini
):
    number = "+14155550205"
    await twilio_emu.run(asyncio.sleep(0, result=twilio_emu.emulator.outcomes.update({number: ["machine"]})))
    message = "Hello, this is Example Corp. Please call us back about your order."
    row = await sync_to_async(place_call)(
        tool_agent, "twilio", number, "", {"_voicemail": message}, detect_machines=True
    )
    created = [r for r in twilio_emu.emulator.rest_requests if r[1].endswith("/Calls.json")]
    assert created[-1][2]["MachineDetection"] == ["DetectMessageEnd"]
    call = await emulator_call(twilio_emu, row.carrier_call_id)
    await twilio_emu.run(call.answered())
    assert call.answered_by == "machine_end_beep"
    assert await heard(twilio_emu, call)
    await twilio_emu.run(call.ended.wait())  # the agent hung up after the message, no caller turn
    assert call.end_reason == "ended by REST API"
    assert said_anywhere(tools_gemini, message)
    stored = await wait_for(lambda: stored_call(pk=row.pk), what="stored voicemail call")
    assert stored.end_reason == "voicemail: message left" and stored.variables["_answered_by"] == "machine"
    assert not await sync_to_async(stored.segments.filter(speaker="caller").exists)()


# --- a campaign -----------------------------------------------------------------------------------
@pytest.mark.production
@pytest.mark.asyncio
async def test_ten_number_campaign_retries_busy_and_no_answer_then_completes(
    here, twilio_emu, tool_agent, tools_gemini, staff_user
):
    numbers = [f"+1415555030{i}" for i in range(10)]
    busy, unanswered = numbers[3], numbers[7]
    twilio_emu.emulator.outcomes.update({busy: ["busy"], unanswered: ["no-answer"]})

    @sync_to_async
    def make_campaign() -> Campaign:
        campaign = Campaign.objects.create(
            name="Spring follow-up",
            agent=tool_agent,
            carrier="twilio",
            greeting="Hello {name}, this is Example Corp with a quick follow up.",
            max_attempts=3,
            retry_delay_minutes=1,
            calls_per_minute=60,
            max_simultaneous=10,
            status=Campaign.Status.RUNNING,
        )
        CampaignContact.objects.bulk_create(
            CampaignContact(campaign=campaign, number=n, fields={"name": f"Person {i}"})
            for i, n in enumerate(numbers)
        )
        return campaign

    campaign = await make_campaign()
    tick = sync_to_async(scheduler.tick)

    async def answer_and_hang_up(sid: str) -> None:
        call = await emulator_call(twilio_emu, sid)
        await twilio_emu.run(call.answered())
        if call.stream_started.is_set():
            await heard(twilio_emu, call, timeout=60)  # ten calls at once: room for a loaded machine
            await twilio_emu.run(call.hangup())
        else:
            await twilio_emu.run(call.ended.wait())

    async def round_of_calls(expected: int, now=None) -> list[str]:
        result = await tick(now)
        assert result.campaign_calls == expected, result
        sids = await sync_to_async(
            lambda: list(
                Call.objects.filter(
                    direction="outbound", status__in=Call.LIVE_STATUSES, to_number__in=numbers
                ).values_list("carrier_call_id", flat=True)
            )
        )()
        await asyncio.gather(*(answer_and_hang_up(sid) for sid in sids))
        return sids

    await round_of_calls(10)
    contacts = CampaignContact.objects.filter(campaign=campaign)

    def retries_waiting():
        scheduler.tick()  # settles contacts whose calls the engine has stored since (beat does this every 10 s)
        rows = {c.number: c for c in contacts.all()}
        done = [c for c in rows.values() if c.status == "completed"]
        retry = rows[busy].status == rows[unanswered].status == "pending"
        return len(done) == 8 and retry and rows[busy].next_attempt_at and rows

    rows = await wait_for(retries_waiting, timeout=40, what="8 completed, busy + no-answer waiting to retry")
    assert rows[busy].last_result.startswith("busy") and rows[unanswered].last_result.startswith("no_answer")
    assert (await tick()).campaign_calls == 0  # the retry delay has not passed
    later = timezone.now() + timedelta(minutes=2)
    await round_of_calls(2, later)

    def all_done():
        scheduler.tick(later)
        states = {c.number: (c.status, c.attempts) for c in contacts.all()}
        return all(s == "completed" for s, _ in states.values()) and states

    states = await wait_for(all_done, timeout=40, what="every contact completed")
    assert states[busy] == ("completed", 2) and states[unanswered] == ("completed", 2)
    assert sum(a for _, a in states.values()) == 12
    await tick(later)
    campaign = await sync_to_async(Campaign.objects.get)(pk=campaign.pk)
    assert campaign.status == "done" and campaign.finished_at
    assert said_anywhere(tools_gemini, "Hello Person 5, this is Example Corp")

    @sync_to_async
    def history() -> str:
        client = Client()
        client.force_login(staff_user)
        response = client.get("/calls/", {"direction": "outbound"})
        assert response.status_code == 200
        return response.content.decode()

    page = await history()
    for number in numbers:
        assert number in page, number
    statuses = await sync_to_async(
        lambda: sorted(Call.objects.filter(to_number__in=numbers).values_list("status", flat=True))
    )()
    assert (
        statuses.count("completed") == 10 and statuses.count("busy") == 1 and statuses.count("no_answer") == 1
    )


# --- scheduled callbacks --------------------------------------------------------------------------
@pytest.mark.production
def test_callback_fires_once_with_the_same_agent_and_the_first_calls_context(
    here, twilio_emu, tool_agent, tools_gemini
):
    first = Call.objects.create(
        carrier="twilio", from_number="+14155550400", to_number=TWILIO_OURS, agent=tool_agent
    )
    context = {
        "first_call_id": str(first.pk),
        "first_call_summary": "caller asked about order B777",
        "order": "B777",
    }
    callback = ScheduledCallback.objects.create(
        number="+14155550400",
        agent=tool_agent,
        carrier="twilio",
        from_number=TWILIO_OURS,
        due_at=timezone.now() + timedelta(minutes=5),
        context=context,
        origin_call=first,
    )

    def creates():
        return [
            r
            for r in twilio_emu.emulator.rest_requests
            if r[1].endswith("/Calls.json") and r[2]["To"] == ["+14155550400"]
        ]  # noqa: E731

    assert scheduler.tick().callbacks_placed == 0 and not creates()  # not due yet: nothing fires early

    due = timezone.now() + timedelta(minutes=6)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(scheduler.tick(due))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.append(scheduler.tick_task.apply(args=()).result)  # a redelivered beat task, eager
    assert sum(r.callbacks_placed for r in results[:3]) == 1 and results[3]["callbacks_placed"] == 0
    assert len(creates()) == 1

    callback.refresh_from_db()
    assert callback.status == "done" and callback.call_id
    call = callback.call
    assert call.agent_id == tool_agent.pk and call.direction == "outbound" and call.from_number == TWILIO_OURS
    assert (
        call.variables["order"] == "B777"
        and call.variables["first_call_summary"] == context["first_call_summary"]
    )

    sid = call.carrier_call_id

    async def talk() -> None:
        emu_call = await emulator_call(twilio_emu, sid)
        await twilio_emu.run(emu_call.answered())
        await heard(twilio_emu, emu_call)
        await twilio_emu.run(emu_call.hangup())

    asyncio.run(talk())
    stored = wait_sync(lambda: stored_call(pk=call.pk), what="stored callback call")
    prompt = json.dumps(
        [s.setup for s in tools_gemini.sessions if s.setup and "order B777" in json.dumps(s.setup)]
    )
    assert "caller asked about order B777" in prompt  # the first call's context reached the prompt
    assert stored.status == "completed"


@pytest.mark.asyncio
async def test_plivo_machine_detection_moves_the_call_to_the_voicemail_message(here, plivo_emu, tool_agent):
    """Plivo reports a machine asynchronously: the call is transferred to XML that speaks the
    campaign's message and hangs up; the call counts as a voicemail."""
    number = "+14155550206"
    plivo_emu.emulator.outcomes[number] = ["machine"]
    message = "Hello from Example Corp, please call us back."
    row = await sync_to_async(place_call)(
        tool_agent, "plivo", number, "", {"_voicemail": message}, detect_machines=True
    )
    created = [r for r in plivo_emu.emulator.rest_requests if r[1].endswith("/Call/")]
    assert (
        created[-1][2]["machine_detection"] == "true"
        and "/outbound/plivo/machine/" in created[-1][2]["machine_detection_url"]
    )
    call = await emulator_call(plivo_emu, row.carrier_call_id)
    await plivo_emu.run(call.ended.wait())
    assert ("MachineDetection", 204) in call.callbacks
    assert call.spoken == [message]
    transfer = [
        r for r in plivo_emu.emulator.rest_requests if r[0] == "POST" and r[1].endswith(f"/Call/{call.uuid}/")
    ]
    assert transfer and "/outbound/plivo/voicemail/" in transfer[0][2]["aleg_url"]
    stored = await wait_for(lambda: stored_call(pk=row.pk), what="stored call")
    assert stored.variables["_answered_by"] == "machine"
    assert scheduler.contact_outcome(stored) == "voicemail"
