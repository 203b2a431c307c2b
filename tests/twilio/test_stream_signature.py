"""The Media Stream upgrade's `X-Twilio-Signature`: the emulator signs it, the app refuses a wrong one.

Twilio signs the WebSocket upgrade over the wss:// URL with no parameters (reference §2; Twilio's
Media Streams firewall page asks apps to validate it). Through real daphne.
"""

from __future__ import annotations

import pytest
import websockets
from twilio.request_validator import RequestValidator

from .conftest import TWILIO_NUMBER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_upgrade_with_a_wrong_signature_is_refused_and_a_right_one_accepted(
    twilio_server, twilio_emulator
):
    url = twilio_server.ws_url + "/ws/twilio/"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            url, additional_headers={"X-Twilio-Signature": "Zm9yZ2Vk"}, open_timeout=10
        ):
            pass
    assert refused.value.response.status_code == 403
    assert "stream upgrade to" in twilio_server.log() and "bad X-Twilio-Signature" in twilio_server.log()

    signed = RequestValidator(twilio_emulator.emulator.auth_token).compute_signature(url, {})
    async with websockets.connect(
        url, additional_headers={"X-Twilio-Signature": signed}, open_timeout=10
    ) as ws:
        assert ws.response.status_code == 101


async def test_emulated_call_streams_with_its_signed_upgrade(twilio_server, twilio_emulator, twilio_agent):
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered(timeout=20))
    assert call.stream_started.is_set(), call.errors
    await emu.run(call.hangup())
    assert not [e for e in call.errors if e.startswith("31920")], call.errors
