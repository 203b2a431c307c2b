"""The conversation engine end to end: real google-genai SDK, the Gemini emulator, a loopback line.

Each test places a call through `start_call` (the entry point every transport uses) with a
simulated caller speaking flite speech, then checks what the caller heard and what was stored.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from agents.models import Agent
from calls.models import Call, CallMetrics, Recording, ToolInvocation
from engine.port import WireFormat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


async def stored(call_id, timeout: float = 10.0) -> Call:
    """The Call once its records are stored (Celery runs eagerly in a worker thread here)."""
    from asgiref.sync import sync_to_async

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        call = await sync_to_async(lambda: Call.objects.filter(pk=call_id, metrics__final=True).first())()
        if call:
            return call
        await asyncio.sleep(0.1)
    raise AssertionError("the call's records were never stored")


def segments(call_id) -> list[tuple[str, str]]:
    return list(Call.objects.get(pk=call_id).segments.values_list("speaker", "text"))


@pytest.mark.production
async def test_greeting_first_then_two_turns_then_goodbye_ends_the_call(demo_agent, dial):
    line = await dial()
    assert line.handle.accepted
    await line.wait_for_audio(1.0)
    greeting_audio = bytes(line.port.audio)
    await line.wait_quiet()
    await line.caller.say("i would like to check the status of my order")
    await line.wait_quiet()
    await line.caller.say("thank you goodbye")
    await asyncio.wait_for(line.port.hung_up.wait(), 20)
    await line.handle.wait()

    assert rms(greeting_audio) > 300, "the greeting was silent"
    call = await stored(line.handle.call_id)
    from asgiref.sync import sync_to_async

    segs = await sync_to_async(segments)(call.pk)
    assert segs[0][0] == "agent" and "thanks for calling example corp" in segs[0][1].lower()
    caller_text = " ".join(t for s, t in segs if s == "caller").lower()
    assert "status of my order" in caller_text and "goodbye" in caller_text
    assert sum(1 for s, _ in segs if s == "agent") >= 3  # greeting, answer, goodbye
    assert call.status == "completed" and call.end_reason.startswith("agent ended the call")
    # The goodbye was not clipped: the hangup came after the last frame had been sent.
    hangup_at = next(t for t, kind, _ in line.port.events if kind == "hangup")
    assert line.port.frame_times[-1] <= hangup_at
    tool = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="end_call")
    assert tool.error == "" and tool.result["ok"] is True
    metrics = await sync_to_async(CallMetrics.objects.get)(call=call)
    assert metrics.first_response_ms is not None and metrics.turns >= 3 and metrics.frames_out > 100
    rec = await sync_to_async(Recording.objects.get)(call=call)
    assert rec.channels == 2 and rec.duration_seconds > 3


@pytest.mark.production
async def test_barge_in_stops_playout_within_one_frame(demo_agent, dial):
    line = await dial()
    await line.wait_for_audio(0.5)
    await line.wait_quiet()
    await line.caller.say("can you tell me a long story", then_silence=0.6)
    await line.wait_for_audio(1.5)  # the story is playing
    await line.caller.say("hello", then_silence=0.0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not any(kind == "clear" for _, kind, _ in line.port.events):
        assert loop.time() < deadline, "no clear was sent to the carrier"
        await line.caller.silence(0.1)
    clear_at = next(t for t, kind, _ in line.port.events if kind == "clear")
    # After the clear, at most one frame (already in flight) of the old reply goes out before the
    # agent answers the interruption, which needs the caller's silence first (>= 300 ms).
    after = [t for t in line.port.frame_times if clear_at < t < clear_at + 0.25]
    assert len(after) <= 1
    await line.wait_quiet()
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)
    from asgiref.sync import sync_to_async

    metrics = await sync_to_async(CallMetrics.objects.get)(call=call)
    assert metrics.barge_ins >= 1
    assert call.end_reason == "test caller hung up"


async def test_unknown_tool_gets_an_error_response_not_a_stuck_call(demo_agent, dial):
    """The scenario calls lookup_order, which this agent does not have: the call goes on."""
    line = await dial()
    await line.wait_quiet()
    await line.caller.say("i would like to check the status of my order")
    await line.wait_quiet()
    await line.caller.say("thank you goodbye")
    await asyncio.wait_for(line.port.hung_up.wait(), 20)
    await line.handle.wait()
    call = await stored(line.handle.call_id)
    assert call.status == "completed"


class _ToolHook(BaseHTTPRequestHandler):
    mode = "ok"
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _ToolHook.seen.append((body, self.headers.get("X-Signature")))
        if self.mode == "slow":
            import time

            time.sleep(2)
        if self.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        out = json.dumps({"status": "shipped", "eta": "tomorrow"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("mode", "order_type", "expected_error"),
    [
        ("ok", "STRING", ""),
        ("slow", "STRING", "did not answer within 0.5 s"),
        ("error", "STRING", "failed (HTTP 500)"),
        ("ok", "INTEGER", "should be integer"),  # the model's "A12345" breaks the schema
    ],
    ids=["answers", "times-out", "http-500", "bad-arguments"],
)
async def test_webhook_tool(demo_agent, dial, mode, order_type, expected_error):
    """A webhook tool answers, times out, fails with 500, or gets arguments that break its schema.

    Whatever happens, the model gets a toolResponse (an error it can speak about) and the call goes
    on: the agent speaks after the tool and the caller can still say goodbye.
    """
    from asgiref.sync import sync_to_async

    from agents.models import Tool

    server = ThreadingHTTPServer(("127.0.0.1", 0), _ToolHook)
    _ToolHook.mode, _ToolHook.seen = mode, []
    threading.Thread(target=server.serve_forever, daemon=True).start()

    @sync_to_async
    def add_tool():
        tool = Tool.objects.create(
            name="lookup_order",
            kind="webhook",
            description="Look up an order.",
            parameters={
                "type": "OBJECT",
                "properties": {"order_id": {"type": order_type}},
                "required": ["order_id"],
            },
            url=f"http://127.0.0.1:{server.server_port}/orders",
            secret="s3cret",
            timeout_seconds=0.5,
        )
        demo_agent.tools.add(tool)

    await add_tool()
    try:
        line = await dial()
        await line.wait_quiet()
        await line.caller.say("i would like to check the status of my order")
        await line.wait_quiet(quiet=1.0)
        await line.caller.say("thank you goodbye")
        await asyncio.wait_for(line.port.hung_up.wait(), 20)
        await line.handle.wait()
    finally:
        server.shutdown()
    call = await stored(line.handle.call_id)
    inv = await sync_to_async(ToolInvocation.objects.get)(call=call, tool_name="lookup_order")
    assert call.status == "completed" and call.end_reason.startswith("agent ended the call")
    if expected_error:
        assert expected_error in inv.error and inv.result is None
    else:
        assert inv.error == "" and inv.result == {"status": "shipped", "eta": "tomorrow"}
        body, signature = _ToolHook.seen[0]
        assert body["arguments"] == {"order_id": "A12345"} and body["call"]["caller_number"] == "+15550001111"
        import hashlib
        import hmac

        raw = json.dumps(body, sort_keys=True).encode()
        assert signature == hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    if mode == "ok" and order_type == "INTEGER":
        assert not _ToolHook.seen  # invalid arguments never reach the webhook


async def test_prompt_and_greeting_use_call_variables(demo_agent, dial, gemini):
    """{caller_number} in the prompt reaches Gemini's setup filled in; unknown names stay as written."""
    from asgiref.sync import sync_to_async

    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(
        greeting="Hello caller from {caller_number}, about {campaign_topic}.",
    )
    line = await dial()
    await line.wait_for_audio(0.5)
    await line.wait_quiet()
    await line.hang_up_and_wait()
    session = next(s for s in reversed(gemini.sessions) if s.setup and "+15550001111" in json.dumps(s.setup))
    assert "test agent for +15550001111" in json.dumps(session.setup)
    assert any(
        "hello caller from +15550001111, about {campaign_topic}" in said.lower() for said in session.said
    )


async def test_concurrency_cap_refuses_politely(demo_agent, dial):
    from asgiref.sync import sync_to_async

    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(max_concurrent_calls=1)
    first = await dial()
    assert first.handle.accepted
    second = await dial()
    assert not second.handle.accepted
    await asyncio.wait_for(second.port.hung_up.wait(), 15)
    assert second.port.seconds() > 2 and rms(bytes(second.port.audio)) > 300  # the busy prompt played
    await first.hang_up_and_wait()
    refused = await sync_to_async(Call.objects.get)(pk=second.handle.call_id)
    assert refused.status == "refused" and "cap" in refused.end_reason


async def test_unknown_number_hears_the_apology(transactional_db, dial):
    line = await dial(to="nobody-here")
    assert not line.handle.accepted
    await asyncio.wait_for(line.port.hung_up.wait(), 15)
    assert line.port.seconds() > 3 and rms(bytes(line.port.audio)) > 300


async def test_gemini_unreachable_gets_the_busy_prompt(demo_agent, dial, settings):
    settings.GEMINI_BASE_URL = "https://127.0.0.1:9"  # nothing listens there
    line = await dial()
    assert line.handle.accepted
    await asyncio.wait_for(line.port.hung_up.wait(), 20)
    assert rms(bytes(line.port.audio)) > 300
    call = await stored(line.handle.call_id)
    assert call.status == "failed" and call.end_reason == "Gemini unavailable"


async def test_max_duration_says_goodbye_and_hangs_up_unclipped(demo_agent, dial):
    from asgiref.sync import sync_to_async

    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(max_call_seconds=4)
    line = await dial()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not line.port.hung_up.is_set():
        assert loop.time() < deadline
        await line.caller.silence(0.2)
    await line.handle.wait()
    call = await stored(line.handle.call_id)
    assert call.end_reason == "max call duration reached"
    segs = await sync_to_async(segments)(call.pk)
    assert "time limit" in segs[-1][1].lower()
    hangup_at = next(t for t, kind, _ in line.port.events if kind == "hangup")
    assert line.port.frame_times[-1] <= hangup_at


async def test_pcm16_wire_works_too(demo_agent, dial):
    """AudioSocket-style 16 kHz linear audio in and out."""
    line = await dial(wire=WireFormat("pcm", 16000))
    await line.wait_for_audio(1.0)
    assert rms(bytes(line.port.audio)) > 300
    await line.hang_up_and_wait()


async def _two_turn_call_with_fault(line, gemini_emulator) -> Call:
    from asgiref.sync import sync_to_async

    await line.wait_quiet()
    await line.caller.say("hello")
    await line.wait_quiet(quiet=0.8)
    await line.caller.say("i would like to check the status of my order")
    await line.wait_quiet(quiet=0.8)
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)
    call.segs = await sync_to_async(segments)(call.pk)
    call.m = await sync_to_async(CallMetrics.objects.get)(call=call)
    return call


async def test_goaway_reconnects_by_resumption_without_a_second_greeting(demo_agent, dial, gemini):
    gemini.faults.goaway_after_s = 1.5
    gemini.faults.goaway_time_left_s = 5.0
    try:
        line = await dial()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while line.handle.metrics.reconnects < 1:
            assert loop.time() < deadline, "no goAway reconnect happened"
            await line.caller.silence(0.1)
    finally:
        gemini.faults.goaway_after_s = None  # the next connection lives on: one goAway per call
    call = await _two_turn_call_with_fault(line, gemini)
    assert call.m.reconnects >= 1
    greetings = [t for s, t in call.segs if s == "agent" and "thanks for calling" in t.lower()]
    assert len(greetings) == 1, call.segs
    caller_text = " ".join(t for s, t in call.segs if s == "caller").lower()
    assert "status of my order" in caller_text  # the conversation went on after the reconnect
    assert call.status == "completed"


async def test_dropped_gemini_socket_mid_turn_is_survived(demo_agent, dial, gemini):
    line = await dial()
    await line.wait_quiet()
    gemini.faults.drop_mid_turn = True  # the next reply is cut off by a TCP abort
    call = await _two_turn_call_with_fault(line, gemini)
    assert call.m.reconnects >= 1
    greetings = [t for s, t in call.segs if s == "agent" and "thanks for calling" in t.lower()]
    assert len(greetings) == 1
    assert any("shipped" in t.lower() for s, t in call.segs if s == "agent"), call.segs


class _ConfigHook(BaseHTTPRequestHandler):
    mode = "answer"
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _ConfigHook.seen.append((body, self.headers.get("X-Signature")))
        if self.mode == "slow":
            import time

            time.sleep(5)
        if self.mode == "fail":
            self.send_response(500)
            self.end_headers()
            return
        out = json.dumps({"greeting": "Welcome to the overridden line.", "voice": "Kore"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("mode", ["answer", "slow", "fail"])
async def test_configuration_webhook(demo_agent, dial, gemini, mode):
    """Answering: its greeting and voice are used. Slow (5 s > 3 s timeout) or failing (500): the agent's own."""
    from asgiref.sync import sync_to_async

    server = ThreadingHTTPServer(("127.0.0.1", 0), _ConfigHook)
    _ConfigHook.mode, _ConfigHook.seen = mode, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(
        config_webhook_url=f"http://127.0.0.1:{server.server_port}/config", config_webhook_secret="k"
    )
    try:
        line = await dial()
        await line.wait_for_audio(1.0, timeout=20)
        await line.wait_quiet()
        await line.hang_up_and_wait()
    finally:
        server.shutdown()
    body, signature = _ConfigHook.seen[0]
    assert body["from"] == "+15550001111" and body["to"] == "engine" and len(signature) == 64
    call = await stored(line.handle.call_id)
    segs = await sync_to_async(segments)(call.pk)
    if mode == "answer":
        assert "overridden line" in segs[0][1].lower()
        session = next(
            s for s in gemini.sessions if any("overridden line" in said.lower() for said in s.said)
        )
        assert '"Kore"' in json.dumps(session.setup)  # the voice override reached Gemini's setup
    else:
        assert "thanks for calling example corp" in segs[0][1].lower()


class _WholeCallRecorder:
    """The recorder as it was before recordings were streamed: both tracks kept in memory, the WAV
    built at the end. The reference a streamed recording must equal byte for byte."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.tracks = {"caller": bytearray(), "agent": bytearray()}

    def add(self, side: str, pcm: bytes, at_seconds: float) -> None:
        track = self.tracks[side]
        position = int(at_seconds * self.rate) * 2
        if position > len(track):
            track += b"\x00" * (position - len(track))
        track += pcm

    def wav_bytes(self) -> bytes:
        import io
        import wave

        caller = np.frombuffer(bytes(self.tracks["caller"]), dtype="<i2")
        agent = np.frombuffer(bytes(self.tracks["agent"]), dtype="<i2")
        stereo = np.zeros((max(len(caller), len(agent)), 2), dtype="<i2")
        stereo[: len(caller), 0] = caller
        stereo[: len(agent), 1] = agent
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(stereo.tobytes())
        return out.getvalue()


async def test_recording_written_in_chunks_is_the_same_file_as_one_built_at_the_end(
    demo_agent, dial, settings
):
    """Thrown: a whole call (greeting, a question and its answer, the caller hanging up) whose recording
    is written in chunks of 0.3 s by the writer thread as the call goes.
    Survives: the stored WAV is byte for byte the one the whole-call recorder builds from the same audio
    at the end (same header, duration, sample alignment of both sides)."""
    from asgiref.sync import sync_to_async
    from django.core.files.storage import default_storage

    settings.TRANSCRIPT_SAVE_SECONDS = 0.3
    line = await dial()
    recorder = line.handle.recorder
    reference = _WholeCallRecorder(recorder.rate)
    streamed_add = recorder.add

    def both(side: str, pcm: bytes, at_seconds: float) -> None:
        if recorder.enabled:
            reference.add(side, pcm, at_seconds)
        streamed_add(side, pcm, at_seconds)

    recorder.add = both
    await line.wait_quiet()
    await line.caller.say("i would like to check the status of my order")
    await line.wait_quiet()
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)
    rec = await sync_to_async(Recording.objects.get)(call=call)
    with default_storage.open(rec.file.name, "rb") as handle:
        data = handle.read()
    assert line.handle._recording.chunks > 5, "the recording was written during the call"
    assert data == reference.wav_bytes()
    assert rec.duration_seconds == round((len(data) - 44) / 4 / recorder.rate, 2) > 5


async def test_two_calls_in_progress_are_saved_together_in_one_job_per_pass(
    demo_agent, dial, settings, monkeypatch
):
    """Thrown: two calls at once in one process, each greeted and one of them asked a question, with
    what they said saved every 0.3 s while they go on, and a metrics snapshot on every pass; the
    process saves as it does when Celery runs in a worker (here the jobs still run in this process:
    embedded mode itself gives each call its own job, `engine.progress`).
    Survives: both calls' transcripts and metrics snapshots are in the database before either call
    ends, and they got there in shared `store_progress` jobs (one per pass for the process, not one per
    call): no job carried one call alone while the other had something to save in the same pass."""
    from asgiref.sync import sync_to_async
    from celery.signals import task_prerun

    from calls.models import TranscriptSegment

    settings.TRANSCRIPT_SAVE_SECONDS = 0.3
    monkeypatch.setattr("engine.call.METRICS_EVERY_TICKS", 1)  # every pass has something of each call
    monkeypatch.setattr("engine.progress._in_process", lambda: False)
    jobs: list[tuple[str, list]] = []

    def seen(sender=None, args=None, kwargs=None, **_):
        jobs.append((sender.name, list(args or ())))

    task_prerun.connect(seen, weak=False)
    try:
        first, second = await dial(), await dial()
        await asyncio.gather(first.wait_for_audio(1.0), second.wait_for_audio(1.0))
        await asyncio.gather(first.wait_quiet(), second.wait_quiet())
        await first.caller.say("i would like to check the status of my order")
        await asyncio.gather(first.wait_quiet(), second.caller.silence(1.0))

        def saved() -> dict:
            calls = {str(first.handle.call_id), str(second.handle.call_id)}
            return {
                str(call): set(
                    TranscriptSegment.objects.filter(call_id=call).values_list("speaker", flat=True)
                )
                for call in calls
            } | {"metrics": CallMetrics.objects.filter(call_id__in=calls, final=False).count()}

        during = await sync_to_async(saved)()
        assert not first.handle._ended.is_set() and not second.handle._ended.is_set()
    finally:
        task_prerun.disconnect(seen)
    assert during[str(first.handle.call_id)] == {"agent", "caller"}, during
    assert during[str(second.handle.call_id)] == {"agent"}, during
    assert during["metrics"] == 2, "a metrics snapshot of each call is stored while it goes on"
    progress = [args[0] for name, args in jobs if name == "calls.tasks.store_progress"]
    assert progress and not [name for name, _ in jobs if name == "calls.tasks.store_segments"]
    together = [job for job in progress if len({entry["call_id"] for entry in job}) == 2]
    assert together, f"the two calls were never saved in one job: {progress}"
    await first.hang_up_and_wait()
    await second.hang_up_and_wait()
