"""Secure keypad entry: a webhook tool marked "secure keypad entry" takes the caller's keyed digits
while Gemini, the recording and the transcript get none of them."""

from __future__ import annotations

import asyncio
import json
import wave

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from agents.models import Tool
from calls.models import ToolInvocation

from .orders import Orders, orders  # noqa: F401 - the fixture
from .test_engine import stored
from .test_tool_cancellation import _agent_with_lookup

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

CARD = "4111111111111111"


def _caller_rms(call, start_ms: int, end_ms: int) -> float:
    """RMS of the caller's channel (left) of the stored recording between two call times."""
    with call.recording.file.open("rb") as f, wave.open(f, "rb") as wav:
        rate = wav.getframerate()
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    caller = stereo[int(start_ms * rate / 1000) : int(end_ms * rate / 1000), 0].astype(np.float64)
    return float(np.sqrt(np.mean(caller**2))) if caller.size else 0.0


async def test_keyed_card_number_reaches_only_the_tool(demo_agent, dial, gemini, orders):  # noqa: F811
    """Thrown: the agent calls a secure-entry tool; the caller keys a card number (and reads it aloud
    too) then #. Survives: the webhook gets the digits; the model hears silence and is told no key;
    the stored transcript, the tool invocation's arguments and the recording carry none of it (the
    caller's channel is silent for the window, loud before it); the call goes on and ends normally."""
    await _agent_with_lookup(demo_agent, orders.server_port, "gemini-2.5-flash-native-audio-preview-12-2025")
    await sync_to_async(Tool.objects.filter(name="lookup_order").update)(secure_entry=True)
    before = len(gemini.sessions)
    line = await dial()
    await line.wait_quiet()
    await line.caller.say("i would like to check the status of my order")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while line.handle._secure_digits is None:  # the model called the tool: entry is open
        assert loop.time() < deadline, "secure entry never opened"
        await line.caller.silence(0.1)
    await line.caller.say("four one one one one one one one", then_silence=0.2)
    for digit in CARD + "#":
        line.handle.push_dtmf(digit)
        await line.caller.silence(0.1)
    await line.wait_quiet(quiet=1.5)
    await line.caller.say("thank you goodbye")
    await asyncio.wait_for(line.port.hung_up.wait(), 30)
    await line.handle.wait()
    call = await stored(line.handle.call_id)

    assert [b["arguments"] for b in Orders.bodies] == [{"order_id": "A12345", "digits": CARD}]
    (invocation,) = await sync_to_async(list)(
        ToolInvocation.objects.filter(call=call, tool_name="lookup_order")
    )
    assert "digits" not in invocation.arguments and invocation.result == {"status": "shipped"}
    segments = await sync_to_async(list)(
        call.segments.order_by("seq").values_list("speaker", "text", "start_ms")
    )
    texts = " ".join(t for _, t, _ in segments)
    assert "Secure entry closed: 16 digits to lookup_order" in texts
    assert "4111" not in texts and "Caller pressed" not in texts and "four one one" not in texts.lower()
    (session,) = gemini.sessions[before:]
    sent = json.dumps(session.messages)
    assert "pressed the key" not in sent and "4111" not in sent
    assert not any("four one one" in h.lower() for h in session.heard)
    assert any("goodbye" in s.lower() for s in session.said)  # the call went on after the entry

    opened = next(ms for _, t, ms in segments if t.startswith("Secure entry for"))
    closed = next(ms for _, t, ms in segments if t.startswith("Secure entry closed"))
    assert closed - opened > 2500  # the spoken digits and the keypresses fell inside the window
    loud = await sync_to_async(_caller_rms)(call, 0, opened)
    quiet = await sync_to_async(_caller_rms)(call, opened + 100, closed - 100)
    assert loud > 300 and quiet < 5, (loud, quiet)
