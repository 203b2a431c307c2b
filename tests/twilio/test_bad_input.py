"""What the Twilio side survives: forged webhooks, bad tokens, junk frames, odd payloads, drops.

Every call here goes through real daphne with the Twilio emulator on the other end.
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async

from calls.models import Call
from tests.support.carrier import heard, stored

from .conftest import TWILIO_NUMBER

# Nothing here depends on reply pacing: the Gemini emulator sends replies at once (tests/conftest.py).
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("gemini_instant"),
]


def start_frame(token: str | None) -> str:
    params = {"token": token} if token is not None else {}
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": "MZ" + "a" * 32,
            "start": {"streamSid": "MZ" + "a" * 32, "callSid": "CA" + "b" * 32, "customParameters": params},
        }
    )


async def close_code_after_start(ws_url: str, token: str | None) -> int:
    """Open a media socket, present `token`, send audio; return the close code the app chose."""
    async with websockets.connect(ws_url + "/ws/twilio/") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(start_frame(token))
        media = {"event": "media", "streamSid": "MZ" + "a" * 32, "media": {"payload": "/////w=="}}
        try:
            for _ in range(50):
                await ws.send(json.dumps(media))
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        await asyncio.wait_for(ws.wait_closed(), 5)
        return ws.close_code


async def test_forged_webhook_signature_gets_403_and_a_log_line(twilio_server, twilio_agent):
    """Thrown: a voice webhook signed with another auth token. Survives: 403, no Call, a log line."""
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(
            twilio_server.url + "/twilio/voice/",
            data={"CallSid": "CA" + "c" * 32, "From": "+14155550100", "To": TWILIO_NUMBER},
            headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        )
    assert response.status_code == 403
    assert not await sync_to_async(Call.objects.exists)()
    assert "bad X-Twilio-Signature" in twilio_server.log()


async def test_unknown_number_hears_the_apology_and_no_stream_opens(
    twilio_server, twilio_emulator, twilio_agent
):
    """Thrown: a call to a number bound to no agent. Survives: <Say> apology, hangup, no stream, and
    one refused Call row saying why (the supervisor sees the call)."""
    emu = twilio_emulator
    call = await emu.place(to="+15005550999")
    await emu.run(call.ended.wait())
    assert call.said and "not in service" in call.said[0]
    assert not call.stream_started.is_set()
    assert call.end_reason == "twiml hangup"
    rows = await sync_to_async(
        lambda: list(Call.objects.values_list("status", "end_reason", "carrier_call_id"))
    )()
    assert rows == [("refused", "no agent (unknown)", call.sid)]


async def test_media_socket_without_a_token_is_closed_before_any_audio(twilio_server, twilio_agent):
    """Thrown: a media WebSocket whose start has no token, then audio. Survives: closed 4403, no call."""
    assert await close_code_after_start(twilio_server.ws_url, None) == 4403
    assert await close_code_after_start(twilio_server.ws_url, "f" * 48) == 4403  # unknown token
    assert not await sync_to_async(Call.objects.exists)()
    assert "missing, unknown or reused media token" in twilio_server.log()


async def test_a_reused_token_is_refused_and_the_real_call_goes_on(
    twilio_server, twilio_emulator, twilio_agent
):
    """Thrown: a second socket presenting the token of a live call. Survives: it is closed 4403;
    the first call keeps talking."""
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    token = re.search(r'name="token" value="([0-9a-f]+)"', call.twiml).group(1)
    assert await close_code_after_start(twilio_server.ws_url, token) == 4403
    await heard(emu, call)  # the greeting still plays on the real stream
    await emu.run(call.say("hello"))
    assert {"help", "today"} & set((await heard(emu, call)).split())
    await emu.run(call.hangup())


async def test_malformed_frames_are_ignored_and_the_call_goes_on(
    twilio_server, twilio_emulator, twilio_agent
):
    """Thrown: not-JSON text, a binary frame, media without payload, bad base64, an unknown event.
    Survives: the call; the agent still hears the caller and answers."""
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    for junk in (
        "{not json",
        b"\x00\x01binary",
        '{"event": "media", "streamSid": "x"}',
        '{"event": "media", "media": {"payload": "!!!not base64"}}',
        '{"event": "surprise"}',
        "[]",
    ):
        await emu.run(call.send_raw(junk))
    await heard(emu, call)
    await emu.run(call.say("hello"))
    assert {"help", "today"} & set((await heard(emu, call)).split())
    await emu.run(call.hangup())
    assert "malformed frame ignored" in twilio_server.log()
    assert (await stored(call.sid)).status == "completed"


async def test_odd_sized_inbound_payloads_are_tolerated(twilio_server, twilio_emulator, twilio_agent):
    """Thrown: caller audio in 77/243/161/159/1-byte payloads instead of 160. Survives: the speech
    is understood and answered."""
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    call.payload_sizes = [77, 243, 161, 159, 1, 319]
    await emu.run(call.answered())
    await heard(emu, call)
    await emu.run(call.say("hello"))
    assert {"help", "today"} & set((await heard(emu, call)).split())
    await emu.run(call.hangup())


async def test_socket_dropped_mid_call_ends_and_stores_the_call(twilio_server, twilio_emulator, twilio_agent):
    """Thrown: the media socket vanishes mid-greeting (TCP abort, no stop). Survives: the call is
    ended and stored, and the server takes the next call."""
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    await emu.run(call.wait_until(lambda: call.handset.first_speech_after(0) is not None, what="greeting"))
    await emu.run(call.drop())
    row = await stored(call.sid)
    assert row.status == "completed" and row.end_reason == "stream closed"
    assert "closed without stop" in twilio_server.log()

    again = await emu.place(to=TWILIO_NUMBER)
    await emu.run(again.answered())
    await heard(emu, again)
    await emu.run(again.hangup())


async def test_gemini_dropping_mid_call_reconnects_and_the_call_goes_on(
    twilio_server, twilio_emulator, twilio_agent, gemini_emulator
):
    """Thrown: the Gemini connection is cut halfway through a reply. Survives: the engine
    reconnects; the caller's next question is answered on the same phone call."""
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    await heard(emu, call)
    gemini_emulator.faults.drop_mid_turn = True
    try:
        await emu.run(call.say("i would like to check the status of my order"))
        await emu.run(call.handset.next_reply(quiet=1.5))  # cut short by the drop
    finally:
        gemini_emulator.faults.drop_mid_turn = False
    await emu.run(call.say("hello"))
    assert {"help", "today"} & set((await heard(emu, call)).split())
    await emu.run(call.hangup())
    row = await stored(call.sid)
    assert row.metrics.reconnects >= 1
