"""Crash recovery: a process holding a call dies without a word (SIGKILL); the call does not stay live.

Thrown: SIGKILL to a real `manage.py democall` process in the middle of its call.
Survives: the Call row, marked `failed` with reason "process ended" by `housekeeping` once the process's
heartbeat is stale; what was said before the crash (segments are stored during the call, not only at
its end); and the agent's concurrent-call slot, which the next call gets.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from calls import recordfile
from calls.models import Call, CallMetrics, CallProcess, Recording
from tests.conftest import ARTIFACTS, gemini_env
from tests.support.live import ROOT, database_url
from tests.support.waiting import wait_for


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_calls_of_a_killed_process_are_marked_failed_and_free_their_slot(demo_agent, gemini, settings):
    demo_agent.max_concurrent_calls = 1
    demo_agent.save()
    env = {
        **os.environ,
        **gemini_env(gemini),
        "DATABASE_URL": database_url(connection.settings_dict),
        "PROCESS_HEARTBEAT_SECONDS": "0.5",
        "TRANSCRIPT_SAVE_SECONDS": "0.5",
    }
    log_path = ARTIFACTS / "logs" / "democall-killed.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "democall", "--to", "engine", "--talk-over", "--wait", "60"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        call = wait_for(
            lambda: Call.objects.filter(status=Call.Status.IN_PROGRESS).first(), "call in progress", 30
        )
        assert call.process, "the call names the process that holds it"
        first_beat = CallProcess.objects.get(name=call.process).heartbeat_at
        # The process heartbeats while the call goes on.
        wait_for(
            lambda: CallProcess.objects.get(name=call.process).heartbeat_at > first_beat, "heartbeat", 10
        )
        # The greeting reaches the database while the call is still going on.
        greeting = wait_for(
            lambda: call.segments.filter(speaker="agent").first(), "greeting stored during the call", 20
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    # Right after the crash the heartbeat is fresh: housekeeping leaves the call alone.
    settings.PROCESS_STALE_SECONDS = 2.0
    out = io.StringIO()
    call_command("housekeeping", stdout=out)
    assert "crash recovery: 0 call(s)" in out.getvalue()
    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS

    # Once the heartbeat is stale, the next pass marks it and forgets the process.
    time.sleep(2.5)
    out = io.StringIO()
    call_command("housekeeping", stdout=out)
    assert "crash recovery: 1 call(s) of stopped processes marked failed" in out.getvalue()
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (Call.Status.FAILED, "process ended")
    assert call.answered_at <= call.ended_at
    assert not CallProcess.objects.filter(name=call.process).exists()
    assert list(call.segments.values_list("speaker", "text")) == [("agent", greeting.text)]
    assert greeting.text.startswith("Hello, thanks for calling Example Corp")

    # The agent (cap: one call) answers the next call instead of refusing it as busy.
    call_command(
        "democall", "--to", "engine", "--wait", "1", "--say", "thank you goodbye", stdout=io.StringIO()
    )
    second = Call.objects.exclude(pk=call.pk).get()
    # Production: a Celery worker stores the call a moment after democall returns.
    wait_for(lambda: Call.objects.filter(pk=second.pk).exclude(status="in_progress").exists(), "stored", 20)
    second.refresh_from_db()
    assert second.status == Call.Status.COMPLETED, second.end_reason


class _OrderService(BaseHTTPRequestHandler):
    """The order-lookup webhook the agent's tool calls."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"status": "shipped"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def order_tool(demo_agent):
    from agents.models import Tool

    server = ThreadingHTTPServer(("127.0.0.1", 0), _OrderService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tool = Tool.objects.create(
        name="lookup_order",
        description="Look up an order.",
        parameters={"type": "OBJECT", "properties": {"order_id": {"type": "STRING"}}},
        url=f"http://127.0.0.1:{server.server_port}/orders",
    )
    demo_agent.tools.add(tool)
    yield tool
    server.shutdown()
    server.server_close()


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_a_killed_call_keeps_its_recording_so_far_and_its_tool_invocations(
    demo_agent, order_tool, gemini, settings, staff_client
):
    """Thrown: SIGKILL to a real `manage.py democall` process after the caller's question made the
    agent call a tool and while the agent tells a long story.
    Survives: the tool invocation made before the kill (stored when it finished, not at the end), a
    metrics snapshot, and the recording written in chunks during the call: crash recovery finalises the
    file and stores it, and the call page serves a stereo WAV with the greeting on the agent's side."""
    env = {
        **os.environ,
        **gemini_env(gemini),
        "DATABASE_URL": database_url(connection.settings_dict),
        "PROCESS_HEARTBEAT_SECONDS": "0.5",
        "TRANSCRIPT_SAVE_SECONDS": "0.5",
    }
    log_path = ARTIFACTS / "logs" / "democall-killed-recording.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    says = ["i would like to check the status of my order", "can you tell me a long story"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "democall", "--to", "engine", "--wait", "1"]
            + [arg for phrase in says for arg in ("--say", phrase)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        call = wait_for(lambda: Call.objects.filter(status=Call.Status.IN_PROGRESS).first(), "call", 30)
        # The caller's question makes the agent look the order up (the scenario's `lookup_order`).
        wait_for(lambda: call.tool_invocations.first(), "tool invocation stored during the call", 40)
        path = recordfile.local_path(recordfile.name_for(call.pk, call.answered_at))
        # At least 4 s of stereo 8 kHz audio has reached the file before the kill.
        wait_for(lambda: path.exists() and path.stat().st_size > 44 + 4 * 8000 * 4, "recording chunks", 20)
        assert CallMetrics.objects.filter(call=call, final=False).exists(), "a metrics snapshot"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    on_disk = path.stat().st_size

    settings.PROCESS_STALE_SECONDS = 0.5
    time.sleep(1.0)
    out = io.StringIO()
    call_command("housekeeping", stdout=out)
    assert "crash recovery: 1 call(s)" in out.getvalue()
    call.refresh_from_db()
    assert (call.status, call.end_reason) == (Call.Status.FAILED, "process ended")
    assert list(call.tool_invocations.values_list("tool_name", "error", "result")) == [
        ("lookup_order", "", {"status": "shipped"})
    ]

    recording = Recording.objects.get(call=call)
    response = staff_client.get(f"/calls/{call.pk}/recording.wav")
    assert response.status_code == 200
    data = b"".join(response.streaming_content) if response.streaming else response.content
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = wav.getnframes()
        samples = np.frombuffer(wav.readframes(frames), dtype="<i2").reshape(-1, 2)
    assert len(data) <= on_disk and frames == (len(data) - 44) // 4
    assert recording.duration_seconds == pytest.approx(frames / 8000, abs=0.01) and frames / 8000 > 4
    agent = samples[: 4 * 8000, 1].astype(np.float32).reshape(-1, 2000)  # 0.25 s windows
    assert np.sqrt(np.mean(agent**2, axis=1)).max() > 300, "the greeting is on the agent's side"
