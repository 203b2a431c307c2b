"""Fault containment and caps on a carrier media stream, through the Twilio emulator and each real server
that carries media streams: daphne, and the media process (uvicorn, frames taken inline).

One stream's bad frame or flood must end or slow only that stream: every call of a daphne process
shares its event loop, and a consumer that dies leaves its call live with no socket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re

import pytest

from tests.support.carrier import heard, stored

from .conftest import TWILIO_NUMBER

# Nothing here depends on reply pacing: the Gemini emulator sends replies at once (tests/conftest.py).
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("gemini_instant"),
]

SILENCE = base64.b64encode(b"\xff" * 160).decode()  # one 20 ms frame of u-law silence


def greeting_started(call) -> bool:
    return call.handset.first_speech_after(0) is not None


def lines(log: str, text: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


async def test_a_frame_that_breaks_parsing_ends_only_its_own_call(
    stream_server, twilio_emulator, twilio_agent
):
    """Thrown: on one of two live calls, a text frame of 10,000 nested `[` (json.loads raises
    RecursionError, which is no ValueError). Survives: that call alone ends: its socket is closed
    (4400), its row is stored as failed with the reason, one error line carries its call id and no
    "Exception inside application"; the other call goes on and answers its caller."""
    emu = twilio_emulator
    bystander = await emu.place(to=TWILIO_NUMBER)
    victim = await emu.place(to=TWILIO_NUMBER)
    await emu.run(bystander.answered())
    await emu.run(victim.answered())
    await asyncio.gather(
        heard(emu, bystander),
        emu.run(victim.wait_until(lambda: greeting_started(victim), what="greeting")),
    )
    before = len(stream_server.log())

    await emu.run(victim.send_raw("[" * 10_000))
    await emu.run(asyncio.wait_for(victim.stream_ended.wait(), 15))
    assert victim.close_code == 4400

    row = await stored(victim.sid)
    assert row.status == "failed", row.status
    assert row.end_reason == "bad frame from carrier: RecursionError"
    log = stream_server.log()[before:]
    errors = lines(log, "bad frame from carrier: RecursionError; ending the call")
    assert len(errors) == 1, errors
    assert f"[call={row.id}]" in errors[0]
    assert "Exception inside application" not in log

    await emu.run(bystander.say("hello"))
    assert {"help", "today"} & set((await heard(emu, bystander)).split())
    await emu.run(bystander.hangup())
    assert (await stored(bystander.sid)).status == "completed"


async def test_oversized_frames_and_a_flood_are_dropped_and_the_call_goes_on(
    stream_server, twilio_emulator, twilio_agent
):
    """Thrown: 20 media frames of 700 KB, then 5,000 media frames as fast as the socket takes them,
    on a live call. Survives: both are dropped before parsing and counted in the call's
    frames_dropped; the log has a handful of warning lines (one per kind per 10 s, with a count at
    the end), not thousands; the caller is still heard and answered, and the call ends completed."""
    emu = twilio_emulator
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    await heard(emu, call)
    before = len(stream_server.log())

    def media(payload: str) -> str:
        return json.dumps({"event": "media", "streamSid": call.stream_sid, "media": {"payload": payload}})

    huge, small = media("A" * 700_000), media(SILENCE)

    async def flood() -> None:
        for _ in range(20):
            await call.send_raw(huge)
        for _ in range(5_000):
            await call.send_raw(small)

    await emu.run(flood())
    # daphne still works through the frames it queued (about 1.5 s here), and while it does the
    # bucket stays empty; after that it refills faster than a carrier's 50 frames a second use it.
    await asyncio.sleep(3.0)
    await emu.run(call.say("hello"))
    assert {"help", "today"} & set((await heard(emu, call)).split())
    await emu.run(call.hangup())

    row = await stored(call.sid)
    assert row.status == "completed" and row.end_reason == "caller hung up"
    assert row.metrics.frames_dropped >= 20 + 4_000, row.metrics.frames_dropped
    log = stream_server.log()[before:]
    assert 1 <= len(lines(log, "frame dropped, oversized")) <= 2
    assert 1 <= len(lines(log, "frame dropped, over rate")) <= 2
    summary = lines(log, "stream closed after dropping")
    assert len(summary) == 1 and f"[call={row.id}]" in summary[0]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (oversized|over rate)", summary[0])}
    assert counts["oversized"] == 20 and counts["over rate"] >= 4_000, summary
