"""The Plivo stream socket against tokens it must not accept and frames it must not die of, through
real daphne (the Twilio side of the same consumer is in tests/twilio/test_stream_faults.py)."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.test import Client
from twilio.request_validator import RequestValidator

from agents.models import PhoneNumber
from calls.models import Call
from tests.support.carrier import heard, stored

from .conftest import PLIVO_NUMBER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TWILIO_TOKEN = "hardening-twilio-token"
TWILIO_SID = "CA" + "7" * 32


@sync_to_async
def twilio_issued_token(agent, settings) -> str:
    """A media token as a signed Twilio voice webhook hands it out (Django's test client, this process)."""
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.PUBLIC_BASE_URL = "https://cc.example.com"
    PhoneNumber.objects.create(number="+15005550006", carrier="twilio", agent=agent)
    data = {"CallSid": TWILIO_SID, "From": "+14155550100", "To": "+15005550006", "Direction": "inbound"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature("https://cc.example.com/twilio/voice/", data)
    response = Client().post("/twilio/voice/", data, HTTP_X_TWILIO_SIGNATURE=signature)
    parameter = ET.fromstring(response.content).find("Connect/Stream/Parameter[@name='token']")
    return parameter.get("value")


async def test_a_token_issued_by_a_twilio_webhook_does_not_open_a_plivo_stream(
    plivo_server, plivo_agent, settings
):
    """Thrown: the media token of a live Twilio call, presented in the `start` of a Plivo stream,
    then audio. Survives: the socket is closed 4403 before any audio; the Twilio call keeps ringing
    with its token unspent (its own Twilio stream could still open it), and a log line says why."""
    token = await twilio_issued_token(plivo_agent, settings)
    start = {
        "event": "start",
        "start": {"callId": "6f3c0a4e-1d2b-4c5d-8e9f-0a1b2c3d4e5f", "streamId": "s-1", "tracks": ["inbound"]},
        "extra_headers": f"token={token}",
    }
    media = {"event": "media", "media": {"track": "inbound", "payload": "/////w=="}}
    async with websockets.connect(plivo_server.ws_url + "/ws/plivo/") as ws:
        await ws.send(json.dumps(start))
        try:
            for _ in range(50):
                await ws.send(json.dumps(media))
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 4403
    call = await sync_to_async(Call.objects.get)(carrier_call_id=TWILIO_SID)
    assert call.carrier == "twilio" and call.status == "ringing" and not call.media_token_used
    assert "issued for another carrier" in plivo_server.log()


async def test_a_frame_that_breaks_parsing_ends_the_plivo_call_as_failed(
    plivo_server, plivo_emulator, plivo_agent
):
    """Thrown: a text frame of 10,000 nested `[` on a live Plivo stream (json.loads raises
    RecursionError). Survives: the socket is closed 4400 and the call stored as failed with the
    reason, instead of a dead consumer and a call left in progress; the next call is answered."""
    emu = plivo_emulator
    call = await emu.place(to=PLIVO_NUMBER)
    await emu.run(call.answered())
    await emu.run(call.wait_until(lambda: call.handset.first_speech_after(0) is not None, what="greeting"))
    await emu.run(call.send_raw("[" * 10_000))
    await emu.run(asyncio.wait_for(call.stream_ended.wait(), 15))
    assert call.close_code == 4400
    row = await stored(call.uuid)
    assert row.status == "failed" and row.end_reason == "bad frame from carrier: RecursionError"

    again = await emu.place(to=PLIVO_NUMBER)
    await emu.run(again.answered())
    assert {"calling", "help"} & set((await heard(emu, again)).split())
    await emu.run(again.hangup())
