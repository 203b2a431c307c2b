"""Built-in tools end to end: a carrier emulator's caller asks, the Gemini emulator's scenario calls
the tool, and the carrier emulator (or ARI) shows the request our side made.

Twilio: send_sms (Messages.json from the number called), schedule_callback (a ScheduledCallback row
with the first call's context), transfer_call (Calls/{sid}.json with a <Dial> TwiML). Plivo: send_sms
(Message/) and transfer_call (aleg_url whose XML dials). Asterisk: transfer_call (ARI redirect) and
send_sms through SMS_CARRIER=twilio.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import ToolInvocation
from campaigns.models import ScheduledCallback
from tests.support.carrier import heard
from tests.tools.carriers import (
    CALLER,
    EXTENSION_CONTEXT,
    PLIVO_OURS,
    SMS_FROM,
    TRANSFER_TO,
    TWILIO_OURS,
    stored_call,
    wait_for,
    wait_sync,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


def invocations(call) -> dict[str, ToolInvocation]:
    return {t.tool_name: t for t in ToolInvocation.objects.filter(call=call)}


@pytest.mark.asyncio
async def test_twilio_call_texts_schedules_a_callback_then_transfers(tools_server, twilio_emu, tool_agent):
    emu = twilio_emu
    call = await emu.place(to=TWILIO_OURS, from_=CALLER)
    await emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    await heard(emu, call)  # greeting

    await emu.run(call.say("please text me the details"))
    assert await heard(emu, call)  # the agent answered after the tool (words: see the carrier's record)
    sms = [m for m in emu.emulator.messages if m["to"] == CALLER]
    assert len(sms) == 1, emu.emulator.messages
    assert sms[0]["from"] == TWILIO_OURS and "A12345" in sms[0]["body"]
    posts = [r for r in emu.emulator.rest_requests if r[1].endswith("/Messages.json")]
    assert posts and posts[0][0] == "POST" and posts[0][2]["To"] == [CALLER]

    await emu.run(call.say("please call me back later"))
    assert await heard(emu, call)
    callback = await wait_for(
        lambda: ScheduledCallback.objects.filter(number=CALLER).first(), what="callback row"
    )
    assert callback.agent_id == tool_agent.pk and callback.carrier == "twilio"
    assert callback.from_number == TWILIO_OURS and callback.status == "pending"
    due_in = callback.due_at - timezone.now()
    assert timedelta(seconds=20) < due_in <= timedelta(minutes=1), due_in
    assert "text" in callback.context["first_call_summary"], callback.context  # what was said so far
    dialled = [
        r for r in emu.emulator.rest_requests if r[1].endswith("/Calls.json") and r[2]["To"] == [CALLER]
    ]
    assert dialled == []  # eager Celery in daphne: nothing is dialled until a scheduler tick

    await emu.run(call.say("please transfer me to a person"))
    await emu.run(call.wait_until(lambda: call.dialed, timeout=20, what="the <Dial> of the transfer"))
    await emu.run(call.ended.wait())
    assert call.dialed == [TRANSFER_TO]
    redirect = [r for r in emu.emulator.rest_requests if r[1].endswith(f"/Calls/{call.sid}.json")]
    assert redirect and "<Dial>" in redirect[0][2]["Twiml"][0] and TRANSFER_TO in redirect[0][2]["Twiml"][0]
    assert call.errors == [], call.errors

    row = await wait_for(lambda: stored_call(carrier_call_id=call.sid), what="stored call")
    tools = await wait_for(
        lambda: invocations(row) if len(invocations(row)) == 3 else None, what="3 tool calls"
    )
    assert tools["send_sms"].error == "" and tools["send_sms"].result["to"] == CALLER
    assert tools["schedule_callback"].error == "" and tools["schedule_callback"].result["scheduled"] is True
    assert (
        tools["transfer_call"].error == "" and tools["transfer_call"].arguments["destination"] == TRANSFER_TO
    )
    assert callback.origin_call_id == row.pk


@pytest.mark.asyncio
async def test_plivo_call_texts_then_transfers(tools_server, plivo_emu, tool_agent):
    emu = plivo_emu
    call = await emu.place(to=PLIVO_OURS, from_=CALLER)
    await emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    await heard(emu, call)

    await emu.run(call.say("please text me the details"))
    assert await heard(emu, call)  # the agent answered after the tool (words: see the carrier's record)
    sms = emu.emulator.messages
    assert len(sms) == 1 and sms[0]["dst"] == CALLER and sms[0]["src"] == PLIVO_OURS, sms
    assert "A12345" in sms[0]["text"]

    await emu.run(call.say("please transfer me to a person"))
    await emu.run(call.wait_until(lambda: call.dialed, timeout=20, what="the <Dial> of the transfer"))
    await emu.run(call.ended.wait())
    assert call.dialed == [TRANSFER_TO]
    transfer = [
        r for r in emu.emulator.rest_requests if r[0] == "POST" and r[1].endswith(f"/Call/{call.uuid}/")
    ]
    assert transfer and transfer[0][2]["legs"] == "aleg" and "/plivo/transfer/" in transfer[0][2]["aleg_url"]

    row = await wait_for(lambda: stored_call(carrier_call_id=call.uuid), what="stored call")
    tools = await wait_for(
        lambda: invocations(row) if len(invocations(row)) == 2 else None, what="2 tool calls"
    )
    assert tools["send_sms"].error == "" and tools["transfer_call"].error == ""


def test_asterisk_call_texts_through_the_sms_carrier_then_is_redirected(
    tools_asterisk, tools_runasterisk, twilio_emu, tool_agent
):
    from emulators.gemini.speech import flite_pcm
    from tests.asterisk.test_calls import next_reply

    asterisk = tools_asterisk
    chan = asterisk.place_call(EXTENSION_CONTEXT, "700", caller_number=CALLER, app=tools_runasterisk.app)
    _, end, _ = next_reply(asterisk, chan, 0)  # greeting
    before = len(twilio_emu.emulator.messages)
    asterisk.say(chan, flite_pcm("please text me the details", 16000))
    _, end, _ = next_reply(asterisk, chan, end)
    sms = twilio_emu.emulator.messages[before:]
    assert len(sms) == 1 and sms[0]["to"] == CALLER and sms[0]["from"] == SMS_FROM, sms

    asterisk.say(chan, flite_pcm("please transfer me to a person", 16000))
    asterisk.wait_for(lambda: chan.phone.ended.is_set(), 30, "the caller redirected away")
    redirects = [r for r in asterisk.emulator.requests if r[1] == f"/channels/{chan.id}/redirect"]
    assert redirects == [("POST", f"/channels/{chan.id}/redirect", 204)], asterisk.emulator.requests
    row = wait_sync(lambda: stored_call(carrier_call_id=chan.id), what="stored call")
    tools = wait_sync(lambda: invocations(row) if len(invocations(row)) == 2 else None, what="2 tool calls")
    assert tools["transfer_call"].error == "" and tools["send_sms"].error == ""
    # Redirected, not hung up: the engine left the caller to the PBX.
    assert not [r for r in asterisk.emulator.requests if r[0] == "DELETE" and r[1] == f"/channels/{chan.id}"]
