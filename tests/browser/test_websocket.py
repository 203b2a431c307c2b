"""The browser test-call WebSocket on the live daphne server, driven by a Python WebSocket client.

A signed-in staff session streams flite speech as a browser would (16 kHz PCM16, 20 ms frames, real
time) and gets the agent's greeting back as PCM plus transcript JSON; the Call row is stored with
carrier "browser". Anonymous and non-staff sockets are refused at the handshake.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from agents.models import Agent
from calls.models import Call
from telephony.loopback import flite_pcm

from .conftest import PHRASE, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

RATE = 16000
FRAME = RATE // 50 * 2  # 20 ms of PCM16


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


class BrowserCaller:
    """What the page does, in Python: stream the microphone, collect audio and JSON from the agent."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.audio = bytearray()
        self.messages: list[dict] = []
        self.last_audio_at = 0.0
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()

    async def receive(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.audio += message
                    self.last_audio_at = loop.time()
                else:
                    self.messages.append(json.loads(message))
                self._changed.set()
        finally:
            self.closed.set()
            self._changed.set()

    def of(self, kind: str, **match) -> list[dict]:
        return [
            m for m in self.messages if m["type"] == kind and all(m.get(k) == v for k, v in match.items())
        ]

    async def stream(self, pcm: bytes) -> None:
        """Send `pcm` in 20 ms frames at real-time pace, like the page's capture worklet."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, i in enumerate(range(0, len(pcm), FRAME)):
            if self.closed.is_set():
                return
            try:
                await self.ws.send(pcm[i : i + FRAME].ljust(FRAME, b"\x00"))
            except ConnectionClosedOK:  # the server hung up between our check and this frame
                await asyncio.wait_for(self.closed.wait(), 5)
                return
            delay = start + (n + 1) * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    async def silence_until(self, condition, timeout: float = 20.0) -> None:
        """Keep the microphone open (silence) until `condition()` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            assert loop.time() < deadline and not self.closed.is_set(), f"timed out; got {self.messages}"
            await self.stream(b"\x00" * FRAME * 5)

    def quiet_for(self, seconds: float) -> bool:
        return bool(self.audio) and asyncio.get_running_loop().time() - self.last_audio_at > seconds


def ws_connect(server, path: str, cookie: str | None):
    headers = {"Cookie": cookie} if cookie else {}
    return connect(server.ws_url + path, origin=server.url, additional_headers=headers, max_size=2**20)


async def stored(call_id: str, timeout: float = 10.0) -> Call:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        call = await sync_to_async(
            lambda: Call.objects.filter(pk=call_id, metrics__final=True).select_related("agent").first()
        )()
        if call:
            return call
        await asyncio.sleep(0.1)
    raise AssertionError("the call's records were never stored")


async def test_staff_talks_to_the_agent_and_the_call_is_stored(daphne_server, staff_cookie, call_agent):
    speech = await asyncio.get_running_loop().run_in_executor(None, flite_pcm, PHRASE, RATE)
    async with ws_connect(daphne_server, f"/ws/browser/{call_agent.pk}/", staff_cookie) as ws:
        caller = BrowserCaller(ws)
        receiver = asyncio.create_task(caller.receive())
        await caller.silence_until(lambda: caller.of("call"))
        call_msg = caller.of("call")[0]
        assert (
            call_msg["accepted"] is True and call_msg["agent"] == call_agent.name and call_msg["rate"] == RATE
        )

        # The greeting: audio first, its transcript turn once the model's turn is complete.
        await caller.silence_until(lambda: caller.of("transcript", speaker="agent") and caller.quiet_for(0.6))
        greeting = bytes(caller.audio)
        assert (
            "thanks for calling example corp" in caller.of("transcript", speaker="agent")[0]["text"].lower()
        )

        await caller.stream(speech)
        await caller.silence_until(lambda: caller.of("transcript", speaker="caller"))
        heard = caller.of("transcript", speaker="caller")[0]["text"].lower()

        await ws.send(json.dumps({"type": "hangup"}))
        await asyncio.wait_for(caller.closed.wait(), 15)
        await receiver

    assert len(greeting) >= RATE * 2, "less than a second of greeting"
    assert rms(greeting) > 300, "the greeting was silent"
    assert "status of my order" in heard
    assert caller.of("ended", call_id=call_msg["call_id"])
    call = await stored(call_msg["call_id"])
    assert (call.carrier, call.direction, call.status) == ("browser", "inbound", "completed")
    assert (call.from_number, call.to_number, call.agent_id) == ("staff", call_agent.name, call_agent.pk)
    assert call.end_reason == "caller hung up"
    segs = await sync_to_async(lambda: list(call.segments.values_list("speaker", "text")))()
    assert segs[0][0] == "agent" and "example corp" in segs[0][1].lower()
    assert any(s == "caller" and "status of my order" in t.lower() for s, t in segs)


async def test_an_inactive_or_missing_agent_hears_the_apology(daphne_server, staff_cookie, call_agent):
    """Both refusals run at once: each caller gets the apology as PCM, a hangup, and a refused Call row
    whose reason tells an inactive agent from a missing one."""
    await sync_to_async(Agent.objects.filter(pk=call_agent.pk).update)(is_active=False)

    async def refused(agent_id: int) -> tuple[BrowserCaller, dict]:
        async with ws_connect(daphne_server, f"/ws/browser/{agent_id}/", staff_cookie) as ws:
            caller = BrowserCaller(ws)
            receiver = asyncio.create_task(caller.receive())
            await caller.silence_until(lambda: caller.closed.is_set() or caller.of("ended"))
            await receiver
        return caller, caller.of("call")[0]

    results = await asyncio.gather(refused(call_agent.pk), refused(call_agent.pk + 1000))
    for (caller, call_msg), reason in zip(results, ("inactive_agent", "unknown"), strict=True):
        assert call_msg["accepted"] is False
        assert rms(bytes(caller.audio)) > 300 and len(caller.audio) > RATE * 2 * 4, "no apology heard"
        assert caller.of("hangup") and caller.of("ended")
        call = await sync_to_async(Call.objects.get)(pk=call_msg["call_id"])
        assert (call.carrier, call.status, call.agent_id) == ("browser", "refused", None)
        assert call.end_reason == f"no agent ({reason})"  # as number routing says it


@pytest.mark.parametrize("who", ["anonymous", "not staff"])
async def test_only_staff_may_open_a_test_call(daphne_server, django_user_model, call_agent, who):
    """Thrown at it: a socket with no session, and one signed in as a non-staff user.
    Survives: the handshake is refused (403), no Call row is created."""
    cookie = None
    if who == "not staff":
        clerk = await sync_to_async(django_user_model.objects.create_user)(
            "clerk", "c@example.com", "pw-pw-pw-9"
        )
        cookie = await sync_to_async(session_cookie)(clerk)
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(daphne_server, f"/ws/browser/{call_agent.pk}/", cookie):
            pass
    assert refused.value.response.status_code == 403
    assert await sync_to_async(Call.objects.count)() == 0


async def test_bad_input_is_ignored_and_the_call_goes_on(daphne_server, staff_cookie, call_agent):
    """Thrown at it: garbage text, JSON of unknown types and a bad DTMF digit, an odd-length binary
    message, an oversized one (2 s of audio in one message). Survives: the call, which greets and then
    ends cleanly on hangup."""
    async with ws_connect(daphne_server, f"/ws/browser/{call_agent.pk}/", staff_cookie) as ws:
        caller = BrowserCaller(ws)
        receiver = asyncio.create_task(caller.receive())
        for junk in ("not json", "[1, 2]", '{"type": "transfer"}', '{"type": "dtmf", "digit": "xx"}', "{}"):
            await ws.send(junk)
        await ws.send(b"\x01\x02\x03")
        await ws.send(b"\x00" * RATE * 4)
        await ws.send(json.dumps({"type": "dtmf", "digit": "5"}))
        await caller.silence_until(
            lambda: caller.of("transcript", speaker="agent") and len(caller.audio) > RATE * 2
        )
        await ws.send(json.dumps({"type": "hangup"}))
        await asyncio.wait_for(caller.closed.wait(), 15)
        await receiver
    call_msg = caller.of("call")[0]
    assert call_msg["accepted"] and rms(bytes(caller.audio)) > 300
    call = await stored(call_msg["call_id"])
    assert call.status == "completed" and call.end_reason == "caller hung up"
    texts = await sync_to_async(lambda: list(call.segments.values_list("text", flat=True)))()
    assert "Caller pressed 5" in texts
    log = daphne_server.log()
    assert "unexpected message ignored" in log and "message dropped, oversized" in log


async def test_a_message_that_breaks_handling_ends_only_that_call(daphne_server, staff_cookie, call_agent):
    """Thrown at it: in one of two simultaneous test calls, a text message of 10,000 nested `[` (its
    parsing raises RecursionError, not ValueError). Survives: that call ends at once as failed with the
    reason, its socket closed with 4400 and its records stored; the other call keeps talking and ends
    normally; the log has one error line for it, no "Exception inside application"."""
    path = f"/ws/browser/{call_agent.pk}/"
    async with (
        ws_connect(daphne_server, path, staff_cookie) as bad,
        ws_connect(daphne_server, path, staff_cookie) as good,
    ):
        bad_caller, good_caller = BrowserCaller(bad), BrowserCaller(good)
        receivers = [asyncio.create_task(c.receive()) for c in (bad_caller, good_caller)]
        await bad_caller.silence_until(lambda: bool(bad_caller.of("call")))
        await bad.send("[" * 10_000)
        await asyncio.wait_for(bad_caller.closed.wait(), 10)
        with pytest.raises(ConnectionClosedError):  # closed with 4400, not 1000
            await receivers[0]
        heard_before = len(good_caller.audio)
        await good_caller.silence_until(lambda: len(good_caller.audio) > heard_before + RATE)
        await good.send(json.dumps({"type": "hangup"}))
        await asyncio.wait_for(good_caller.closed.wait(), 15)
        await receivers[1]
    assert bad.close_code == 4400
    failed = await stored(bad_caller.of("call")[0]["call_id"])
    assert failed.status == "failed" and failed.end_reason == "bad message from the browser: RecursionError"
    fine = await stored(good_caller.of("call")[0]["call_id"])
    assert fine.status == "completed" and fine.end_reason == "caller hung up"
    log = daphne_server.log()
    assert (
        log.count("browser: bad message from the browser") == 1 and "Exception inside application" not in log
    )


async def test_a_flood_of_messages_is_capped_and_the_call_goes_on(daphne_server, staff_cookie, call_agent):
    """Thrown at it: 3,000 tiny audio messages at once (60 times what a page sends in a second).
    Survives: the call, which still greets and ends on hangup; the excess is dropped before any
    handling and counted in the call's `frames_dropped`, with one warning line, not 3,000."""
    async with ws_connect(daphne_server, f"/ws/browser/{call_agent.pk}/", staff_cookie) as ws:
        caller = BrowserCaller(ws)
        receiver = asyncio.create_task(caller.receive())
        await caller.silence_until(lambda: bool(caller.of("call")))
        for _ in range(3000):
            await ws.send(b"\x00\x00")
        await caller.silence_until(
            lambda: caller.of("transcript", speaker="agent") and len(caller.audio) > RATE
        )
        await ws.send(json.dumps({"type": "hangup"}))
        await asyncio.wait_for(caller.closed.wait(), 15)
        await receiver
    call = await stored(caller.of("call")[0]["call_id"])
    metrics = await sync_to_async(lambda: call.metrics)()
    assert call.status == "completed" and metrics.frames_dropped > 2000, metrics.frames_dropped
    assert daphne_server.log().count("browser: message dropped, over rate") == 1
