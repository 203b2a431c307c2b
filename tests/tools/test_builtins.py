"""Built-in tools where they cannot work, in-process (LoopbackPort line, SIP carrier): the model gets
an error it can speak about and the call goes on; and the time phrases schedule_callback accepts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async

from agents.models import PhoneNumber
from calls.models import ToolInvocation
from campaigns.models import ScheduledCallback
from campaigns.tools import parse_when
from engine import CallRequest, start_call
from engine.tools import ToolError
from telephony.loopback import LoopbackPort, SimulatedCaller
from tests.conftest import gemini_env
from tests.tools.carriers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def in_process(settings, tools_gemini):
    for key, value in gemini_env(tools_gemini).items():
        setattr(settings, key, value)
    settings.SMS_CARRIER = ""
    return tools_gemini


async def quiet(
    caller: SimulatedCaller, port: LoopbackPort, after: float = 0.6, timeout: float = 20.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await caller.silence(0.1)
        if port.frame_times and loop.time() - port.frame_times[-1] > after:
            return
    raise AssertionError("the agent never stopped talking")


@pytest.mark.asyncio
async def test_sms_and_callback_on_a_sip_line_answer_errors_the_call_survives(in_process, tool_agent):
    """Thrown at it: send_sms and schedule_callback on a SIP trunk call with no SMS_CARRIER. Survives:
    both tool calls end in an error the model speaks about, no message, no callback row, the call
    goes on to a normal goodbye."""
    await sync_to_async(PhoneNumber.objects.create)(carrier="sip", number="tools", agent=tool_agent)
    port = LoopbackPort()
    handle = await start_call(CallRequest(carrier="sip", from_number="+14155550999", to_number="tools"), port)
    caller = SimulatedCaller(handle, port.wire)
    await quiet(caller, port)
    await caller.say("please text me the details")
    await quiet(caller, port)
    await caller.say("please call me back later")
    await quiet(caller, port)
    await caller.say("thank you goodbye")
    await asyncio.wait_for(port.hung_up.wait(), 25)
    await handle.wait()

    def errors():
        rows = {t.tool_name: t.error for t in ToolInvocation.objects.filter(call_id=handle.call_id)}
        return rows if {"send_sms", "schedule_callback", "end_call"} <= set(rows) else None

    rows = await wait_for(errors, what="three tool invocations stored")
    assert "cannot be sent on this line" in rows["send_sms"]
    assert "cannot be scheduled from this line" in rows["schedule_callback"]
    assert rows["end_call"] == ""
    assert not await sync_to_async(ScheduledCallback.objects.exists)()
    said = " ".join(s for session in in_process.sessions for s in session.said)
    assert "I cannot" not in said  # the tool was declared: the model got a tool response, not a fallback


def test_callback_times():
    """Thrown at it: ISO times, minute counts, words, and junk. Survives: junk is a ToolError the
    model can repeat, never an exception that ends the call."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_when("in 1 minute", now) == now + timedelta(minutes=1)
    assert parse_when("15", now) == now + timedelta(minutes=15)
    assert parse_when("in two hours", now) == now + timedelta(hours=2)
    assert parse_when("an hour from now", now) == now + timedelta(hours=1)
    assert parse_when("2026-03-02T09:30:00+00:00", now) == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    for junk in ("", "whenever", "tomorrow-ish", "in -5 minutes"):
        with pytest.raises(ToolError):
            parse_when(junk, now)
