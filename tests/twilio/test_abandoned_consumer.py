"""A media consumer killed by the server (daphne cancels one still busy 10 s after its client left)
never leaves its call live: the call ends and is stored."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from agents.models import PhoneNumber
from calls.models import Call
from telephony import media_token
from telephony.twilio.consumer import TwilioMediaConsumer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def ringing_call(agent) -> tuple[Call, str]:
    PhoneNumber.objects.create(carrier="twilio", number="+15005550006", agent=agent)
    call = Call.objects.create(
        carrier="twilio", to_number="+15005550006", from_number="+14155550100", carrier_call_id="CA1"
    )
    return call, media_token.issue(call)


async def test_a_killed_consumer_ends_its_call(demo_agent, gemini):
    """Thrown at it: the consumer's application task cancelled mid-call, as daphne does to an
    instance that is slow to shut down (before `disconnect` ran). Survives: the call ends at once
    and is stored as completed ("stream closed"), freeing its slot; nothing stays in progress."""
    call, token = await sync_to_async(ringing_call)(demo_agent)
    ws = WebsocketCommunicator(TwilioMediaConsumer.as_asgi(), "/ws/twilio/")
    connected, _ = await ws.connect()
    assert connected
    start = {"event": "start", "streamSid": "MZ1", "start": {"streamSid": "MZ1", "callSid": "CA1",
             "customParameters": {"token": token}}}  # fmt: skip
    await ws.send_to(text_data=json.dumps(start))
    first = json.loads(await ws.receive_from(timeout=15))  # the greeting starts playing
    assert first["event"] == "media"
    ws.future.cancel()  # what daphne does to an application instance that takes too long
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        row = await sync_to_async(Call.objects.filter(pk=call.pk, metrics__final=True).first)()
        if row is not None:
            break
        assert loop.time() < deadline, "the call stayed live after its consumer was killed"
        await asyncio.sleep(0.2)
    assert row.status == "completed" and row.end_reason == "stream closed"
