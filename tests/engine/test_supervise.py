"""Listen in, take over and hand back, through the supervise WebSocket of a live call.

Real SDK, the Gemini emulator, the loopback line through `start_call`, and the dashboard's
WebSocket (the project's ASGI application, session auth, origin check) driven by Channels'
communicator; commands and audio travel over the channel layer as they do between processes.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from calls.models import Supervision
from emulators.gemini.likeness import heard_phrase
from telephony.loopback import flite_pcm

from .test_engine import segments, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SUPERVISOR_SAYS = "i need some help"
CHUNK_BYTES = 16000 * 2 // 10  # 100 ms of 16 kHz PCM16


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


@sync_to_async
def cookie_for(django_user_model, username: str, staff: bool = True) -> str:
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw", is_staff=staff)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def supervise(call_id, cookie: str) -> tuple[WebsocketCommunicator, bool, int | None]:
    from contactcenter.asgi import application

    ws = WebsocketCommunicator(
        application,
        f"/ws/calls/{call_id}/supervise/",
        headers=[(b"cookie", cookie.encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
    connected, code = await ws.connect(timeout=5)
    return ws, connected, code


async def next_json(ws: WebsocketCommunicator, kind: str, timeout: float = 10.0) -> dict:
    """The next JSON message of `kind` (audio chunks in between are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_output(timeout=max(0.1, deadline - loop.time()))
        if message.get("text"):
            body = json.loads(message["text"])
            if body["type"] == kind:
                return body


async def keep_line_open(line) -> None:
    """The caller's phone streams silence, as a phone does, until cancelled."""
    while True:
        await line.caller.silence(0.1)


@pytest.mark.production
async def test_listen_streams_the_mixed_call_only_while_someone_listens(demo_agent, dial, django_user_model):
    """Thrown at it: a call nobody listens to, then a staff listener, then that listener stopping, and a
    non-staff user. Holds: with no listener the call has no mix at all (its frame hooks see None) and
    nothing is published; a listener gets 100 ms chunks of 16 kHz audio in which the agent's reply
    arrives less than 500 ms after it went to the line; after "stop" the mix is gone and no chunk
    follows; the non-staff user's socket is refused; the listen is logged on the call; once the call
    ended a staff socket is closed with 4404 (the page says the call is over)."""
    staff = await cookie_for(django_user_model, "sup")
    clerk = await cookie_for(django_user_model, "clerk", staff=False)
    line = await dial()
    feeder = asyncio.create_task(keep_line_open(line))
    try:
        await line.wait_for_audio(0.5)
        await line.wait_quiet()
        assert line.handle.tap is None  # no listener: nothing mixed, per frame or otherwise

        _, connected, code = await supervise(line.handle.call_id, clerk)
        assert not connected and code == 4403

        ws, connected, _ = await supervise(line.handle.call_id, staff)
        assert connected
        await ws.send_json_to({"type": "listen"})
        assert (await next_json(ws, "state"))["taken_by"] == ""
        assert line.handle.tap is not None

        feeder.cancel()
        sent_at = line.port.seconds()
        await line.caller.say("hello", then_silence=0.1)
        feeder = asyncio.create_task(keep_line_open(line))
        loop = asyncio.get_running_loop()
        chunks: list[tuple[float, bytes]] = []
        deadline = loop.time() + 15
        while loop.time() < deadline and len(chunks) < 60:
            message = await ws.receive_output(timeout=5)
            if message.get("bytes"):
                chunks.append((loop.time(), message["bytes"]))
        assert all(len(pcm) == CHUNK_BYTES for _, pcm in chunks)
        span = chunks[-1][0] - chunks[0][0]
        assert 4.0 < span < 8.0, f"{len(chunks)} chunks in {span:.1f} s: not ~10 a second"
        # The agent's reply on the line, and the first loud chunk a listener got after it.
        frame = line.port.wire.rate // 50 * 2  # one 20 ms frame of the line's PCM
        first = int(sent_at * line.port.wire.rate * 2) // frame
        audio = bytes(line.port.audio)
        reply = next(
            line.port.frame_times[i]
            for i in range(first, len(line.port.frame_times))
            if rms(audio[i * frame : (i + 1) * frame]) > 300
        )
        heard = next(t for t, pcm in chunks if t >= reply and rms(pcm) > 300)
        assert heard - reply < 0.5, f"the listener heard the reply {heard - reply:.2f} s late"

        await ws.send_json_to({"type": "stop"})
        await next_json(ws, "listening")
        await asyncio.sleep(0.3)
        assert line.handle.tap is None
        while not await ws.receive_nothing(timeout=0.3):
            await ws.receive_output()
        assert await ws.receive_nothing(timeout=0.6), "audio kept coming after stop"
        await ws.disconnect()
    finally:
        feeder.cancel()
    await line.hang_up_and_wait()
    await stored(line.handle.call_id)
    late, connected, _ = await supervise(line.handle.call_id, staff)  # a page left open after the end
    assert connected and await late.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
    rows = await sync_to_async(list)(Supervision.objects.filter(call_id=line.handle.call_id))
    assert [(r.username, r.action) for r in rows] == [("sup", "listen")]
    assert rows[0].ended_at is not None


@pytest.mark.production
async def test_take_over_puts_the_supervisor_on_the_line_and_hand_back_returns_the_agent(
    demo_agent, dial, django_user_model, gemini
):
    """Thrown at it: a supervisor takes over in the middle of a long reply and speaks a phrase into
    the socket; a second supervisor tries to take over too; then the first hands back. Holds: the
    reply stops at once and the model says nothing to the caller while taken over (its answer to the
    supervisor is dropped); the caller hears the supervisor's phrase; Gemini heard it too; the second
    supervisor is refused, saying who has the call; after hand back the agent speaks again; the
    transcript marks the supervisor's turn as a human one between notes of both events."""
    first = await cookie_for(django_user_model, "sup")
    second = await cookie_for(django_user_model, "other")
    line = await dial()
    feeder = asyncio.create_task(keep_line_open(line))
    try:
        await line.wait_for_audio(0.5)
        await line.wait_quiet()
        feeder.cancel()
        await line.caller.say("can you tell me a long story", then_silence=0.1)
        feeder = asyncio.create_task(keep_line_open(line))
        await line.wait_for_audio(1.0)  # the story is being told

        ws, connected, _ = await supervise(line.handle.call_id, first)
        assert connected
        await ws.send_json_to({"type": "take_over"})
        state = await next_json(ws, "state")
        while not state["mine"]:
            state = await next_json(ws, "state")
        assert state["taken_by"] == "sup"
        taken_at = line.port.seconds()
        await asyncio.sleep(1.0)
        rate = line.port.wire.rate
        assert rms(bytes(line.port.audio[int(taken_at * rate) * 2 :])) < 50, "the model kept speaking"

        other, connected, _ = await supervise(line.handle.call_id, second)
        assert connected
        await other.send_json_to({"type": "take_over"})
        refused = await next_json(other, "refused")
        assert "sup has already taken over" in refused["reason"]
        await other.disconnect()

        phrase = flite_pcm(SUPERVISOR_SAYS, 16000)
        voice = phrase + bytes(16000 * 2) + flite_pcm("thank you goodbye", 16000) + bytes(16000 * 2 * 2)
        step = 16000 * 2 // 25  # 40 ms chunks, as the browser sends them
        loop = asyncio.get_running_loop()
        start = loop.time()
        said_from = line.port.seconds()
        for n, i in enumerate(range(0, len(voice), step)):
            await ws.send_to(bytes_data=voice[i : i + step])
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.04 - loop.time()))
        await asyncio.sleep(2.0)  # the model answers what it heard; that answer must not reach the caller
        phrase_s = len(phrase) / 32000 + 0.6
        on_line = bytes(line.port.audio[int(said_from * rate) * 2 : int((said_from + phrase_s) * rate) * 2])
        assert heard_phrase(on_line, [SUPERVISOR_SAYS, "can you tell me a long story", "hello"], rate) == (
            SUPERVISOR_SAYS
        ), "the caller did not hear the supervisor"
        assert any(SUPERVISOR_SAYS in h for h in gemini.sessions[-1].heard), gemini.sessions[-1].heard
        # The supervisor's goodbye made the model call end_call: not run while the supervisor has the call.
        responses = gemini.sessions[-1].tool_responses
        for _ in range(80):
            if responses:
                break
            await asyncio.sleep(0.1)
        assert [r["name"] for r in responses] == ["end_call"], responses
        assert "human supervisor" in responses[0]["response"]["error"]
        assert not line.port.hung_up.is_set()
        spoken_until = line.port.seconds()

        await ws.send_json_to({"type": "hand_back"})
        state = await next_json(ws, "state")
        assert state == {"type": "state", "taken_by": "", "mine": False, "listening": True}
        await line.wait_for_audio(0.5)  # the agent speaks again
        assert line.port.seconds() > spoken_until
        await ws.disconnect()
    finally:
        feeder.cancel()
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)
    lines = await sync_to_async(segments)(call.id)
    speakers = [speaker for speaker, _ in lines]
    human = [text for speaker, text in lines if speaker == "human"]
    assert human and SUPERVISOR_SAYS in " ".join(human).lower(), lines
    assert call.end_reason == "test caller hung up"
    took = speakers.index("system", speakers.index("caller"))
    assert lines[took] == ("system", "sup took over the call"), lines
    assert ("system", "sup handed the call back to the agent") in lines
    assert speakers.index("human") > took
    assert speakers[-1] == "agent" or "agent" in speakers[speakers.index("human") :], lines
    rows = await sync_to_async(list)(Supervision.objects.filter(call_id=call.id).order_by("action"))
    # The refused supervisor still listened (taking over starts with listening); only "sup" took over.
    assert sorted((r.username, r.action) for r in rows) == [
        ("other", "listen"),
        ("sup", "listen"),
        ("sup", "take_over"),
    ]
    assert all(r.ended_at for r in rows)
    took_over = next(r for r in rows if r.action == "take_over")
    assert (took_over.ended_at - took_over.started_at).total_seconds() > 3  # until the hand back


async def test_a_supervisor_whose_process_died_is_forgotten(demo_agent, dial, monkeypatch):
    """Thrown at it: a listener and a supervisor who took over, both from a web process that then died
    (their channel never reads, never refreshes, never says stop or hand back). Survives: the call
    drops the listener after the expiry and stops mixing, and takes the call back from the silent
    supervisor, noting why, so the agent speaks to the caller again."""
    from channels.layers import get_channel_layer

    from calls import supervision as route
    from engine import listeners, supervision

    monkeypatch.setattr(listeners, "LISTENER_EXPIRY_SECONDS", 1.0)
    monkeypatch.setattr(supervision, "SUPERVISOR_GONE_S", 1.5)
    layer = get_channel_layer()
    line = await dial()
    feeder = asyncio.create_task(keep_line_open(line))
    try:
        await line.wait_for_audio(0.5)
        await line.wait_quiet()
        group = route.group_for(line.handle.call_id)
        ghost = await layer.new_channel()
        await layer.group_send(group, {"type": route.LISTEN, "channel": ghost, "by": "ghost"})
        await layer.group_send(group, {"type": route.TAKE_OVER, "channel": ghost, "by": "ghost"})
        await asyncio.sleep(0.5)
        assert line.handle.tap is not None and line.handle.playout.muted
        await asyncio.sleep(3.0)
        assert line.handle.tap is None, "the dead listener was never dropped"
        assert not line.handle.playout.muted, "the call stayed taken over by a dead supervisor"
        spoken = line.port.seconds()
        feeder.cancel()
        await line.caller.say("hello", then_silence=0.1)
        feeder = asyncio.create_task(keep_line_open(line))
        await line.wait_for_audio(0.5)
        assert line.port.seconds() > spoken
    finally:
        feeder.cancel()
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)
    lines = await sync_to_async(segments)(call.id)
    assert ("system", "ghost's microphone went silent: the agent took the call back") in lines


@pytest.mark.production
@pytest.mark.production_only
async def test_listen_and_take_over_reach_a_call_held_by_another_process(
    demo_agent, dial, daphne_server, staff_user
):
    """Thrown at it: the call runs in this process, the supervisor's socket is on the daphne web
    process, and only Redis joins them (production). Holds: the listener on daphne gets the call's
    mixed audio, the take-over reaches the call (the model falls silent) and the hand back too."""
    import websockets

    def login() -> str:
        client = Client()
        client.force_login(staff_user)  # a database session: the daphne process reads the same table
        return client.cookies["sessionid"].value

    session = await sync_to_async(login)()
    line = await dial()
    feeder = asyncio.create_task(keep_line_open(line))
    try:
        await line.wait_for_audio(0.3)
        url = f"{daphne_server.ws_url}/ws/calls/{line.handle.call_id}/supervise/"
        headers = {"Cookie": f"sessionid={session}"}
        async with (
            asyncio.timeout(30),
            websockets.connect(url, origin=daphne_server.url, additional_headers=headers) as ws,
        ):
            await ws.send(json.dumps({"type": "listen"}))
            loud = 0
            while loud < 3:  # the greeting, mixed, from the other process
                message = await ws.recv()
                if isinstance(message, bytes):
                    assert len(message) == CHUNK_BYTES
                    loud += rms(message) > 300
            await ws.send(json.dumps({"type": "take_over"}))
            while True:
                message = await ws.recv()
                if isinstance(message, str) and json.loads(message).get("mine"):
                    break
            assert line.handle.playout.muted
            await ws.send(json.dumps({"type": "hand_back"}))
            while True:
                message = await ws.recv()
                if isinstance(message, str) and json.loads(message) == {
                    "type": "state",
                    "taken_by": "",
                    "mine": False,
                    "listening": True,
                }:
                    break
    finally:
        feeder.cancel()
    await line.hang_up_and_wait()
    await stored(line.handle.call_id)
