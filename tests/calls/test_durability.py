"""A broker outage at the end of a call loses nothing: the job waits on disk and is stored once.

Production-style processes (non-eager Celery on Redis): the test starts its own redis-server on a
spare port (never the machine's Redis), a Celery worker, and the enqueue and housekeeping commands as
separate processes sharing the test database.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from calls.models import Call, CallMetrics, Recording, ToolInvocation, TranscriptSegment
from tests.conftest import ARTIFACTS
from tests.support.live import ROOT, database_url, free_port
from tests.support.waiting import wait_for

from .conftest import make_call, stereo_wav

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")


class OwnRedis:
    """A throwaway redis-server on a spare port, with no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_the_end_of_a_call_then_back_stores_the_records_once(agent, tmp_path):
    own = OwnRedis()
    own.start()
    spool_dir = tmp_path / "spool"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": own.url,
        "SPOOL_DIR": str(spool_dir),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "contactcenter.settings",
    }
    log_dir = ARTIFACTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    worker_log = log_dir / f"durability-worker-{own.port}.log"
    worker = None
    try:
        # A call is in progress; its recording is already on storage (the engine writes it first).
        call = make_call(agent=agent, status="in_progress", transcript=False)
        name = default_storage.save(f"recordings/durability/{call.pk}.wav", ContentFile(stereo_wav(0.5)))
        payload = {
            "call_id": str(call.pk),
            "status": "completed",
            "end_reason": "caller hung up",
            "answered_at": call.answered_at.isoformat(),
            "ended_at": timezone.now().isoformat(),
            "tokens": {"prompt": 321, "response": 123, "total": 444},
            "segments": [
                {"speaker": "agent", "text": "Hello, how can I help?", "start_ms": 100, "end_ms": 1500},
                {"speaker": "caller", "text": "Thank you goodbye", "start_ms": 2000, "end_ms": 3000},
            ],
            "metrics": {"first_response_ms": 640.0, "turns": 2, "barge_ins": 0, "frames_in": 150},
            "tool_invocations": [
                {
                    "tool_name": "end_call",
                    "tool_id": None,
                    "gemini_call_id": "fc-9",
                    "arguments": {},
                    "result": {"ok": True},
                    "error": "",
                    "latency_ms": 1.0,
                }
            ],
            "recording": {"name": name, "duration_seconds": 0.5, "sample_rate": 8000, "channels": 2},
        }
        payload_file = tmp_path / "payload.json"
        payload_file.write_text(json.dumps(payload))

        def run(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        # The broker goes away as the call ends: the hand-off keeps the job on disk.
        own.stop()
        assert run("-m", "tests.calls.enqueue_payload", str(payload_file)).strip() == "spooled"
        spooled = sorted(spool_dir.glob("*.json"))
        assert len(spooled) == 1 and json.loads(spooled[0].read_text())["args"] == [payload]
        assert not CallMetrics.objects.filter(call=call).exists()
        # Housekeeping while the broker is still down: the job stays.
        assert "resent 0 spooled job(s), 1 left" in run("manage.py", "housekeeping")

        # The broker is back: housekeeping resends, a worker stores.
        own.start()
        assert "resent 1 spooled job(s), 0 left" in run("manage.py", "housekeeping")
        assert not list(spool_dir.glob("*"))
        # The same job delivered a second time (a crash between publish and unlink resends it).
        assert run("-m", "tests.calls.enqueue_payload", str(payload_file)).strip() == "sent"
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "contactcenter",
                "worker",
                "-P",
                "solo",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(worker_log, "wb"),
            stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        log = Path(worker_log)
        wait_for(
            lambda: "'stored'" in log.read_text() and "'duplicate'" in log.read_text(),
            "the worker to take both deliveries",
        )
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(20)
        own.stop()

    call.refresh_from_db()
    assert call.status == "completed" and call.end_reason == "caller hung up" and call.tokens_total == 444
    assert list(TranscriptSegment.objects.filter(call=call).values_list("text", flat=True)) == [
        "Hello, how can I help?",
        "Thank you goodbye",
    ]
    assert CallMetrics.objects.filter(call=call).count() == 1
    assert ToolInvocation.objects.filter(call=call).count() == 1
    assert Recording.objects.get(call=call).file.name == name
    assert Call.objects.filter(pk=call.pk).count() == 1


@pytest.mark.django_db(transaction=True)
def test_redis_stopped_during_a_real_call_loses_nothing(agent, gemini_emulator, tmp_path):
    """A real call (the engine, the Gemini emulator, a simulated caller: `manage.py democall`) in a
    production-mode process; the test stops its Redis while the call is in progress. The records
    wait on disk, and once Redis is back they are stored once, even if the job is delivered twice."""
    from agents.models import PhoneNumber, Tool
    from tests.conftest import gemini_env

    PhoneNumber.objects.create(number="durable", carrier="sip", agent=agent)
    agent.tools.add(
        Tool.objects.create(name="end_call", kind="end_call", description="End the call after goodbye.")
    )
    own = OwnRedis()
    own.start()
    spool_dir = tmp_path / "spool"
    env = {
        **os.environ,
        **gemini_env(gemini_emulator),
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": own.url,
        "SPOOL_DIR": str(spool_dir),
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    log_dir = ARTIFACTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    worker_log = log_dir / f"durability-call-worker-{own.port}.log"
    call_log = log_dir / f"durability-call-{own.port}.log"
    worker = democall = None
    try:
        democall = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "democall",
                "--to",
                "durable",
                "--wait",
                "1",
                "--say",
                "thank you goodbye",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(call_log, "wb"),
            stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        call = wait_for(
            lambda: Call.objects.filter(to_number="durable", status="in_progress").first(),
            "the call to be answered",
        )
        own.stop()  # the broker goes away mid-call
        assert democall.wait(60) == 0, call_log.read_text()
        spooled = wait_for(lambda: sorted(spool_dir.glob("*.json")), "the job on disk")
        jobs = {path: json.loads(path.read_text()) for path in spooled}
        # The end-of-call store, and the transcript batches saved while the call went on.
        stores = [path for path, job in jobs.items() if job["task"] == "calls.tasks.store_call"]
        assert len(stores) == 1 and jobs[stores[0]]["args"][0]["call_id"] == str(call.pk)
        assert {job["task"] for job in jobs.values()} <= {
            "calls.tasks.store_call",
            "calls.tasks.store_progress",
            "calls.tasks.store_tool_invocations",
        }
        assert not CallMetrics.objects.filter(call=call).exists()
        # A second copy of the store job, as a resender that crashed after publishing would leave.
        shutil.copy(stores[0], spool_dir / ("9" + stores[0].name[1:]))

        own.start()
        done = subprocess.run(
            [sys.executable, "manage.py", "housekeeping"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        resent = f"resent {len(spooled) + 1} spooled job(s), 0 left"
        assert resent in done.stdout, done.stdout + done.stderr
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "contactcenter",
                "worker",
                "-P",
                "solo",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=env,
            stdout=open(worker_log, "wb"),
            stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        wait_for(
            lambda: "'stored'" in worker_log.read_text() and "'duplicate'" in worker_log.read_text(),
            "the worker to take both deliveries",
        )
    finally:
        for process in (democall, worker):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(20)
        own.stop()

    call.refresh_from_db()
    assert call.status == "completed" and call.ended_at is not None
    texts = " ".join(TranscriptSegment.objects.filter(call=call).values_list("text", flat=True)).lower()
    assert "goodbye" in texts
    assert ToolInvocation.objects.filter(call=call, tool_name="end_call").count() == 1
    assert CallMetrics.objects.filter(call=call).count() == 1
    recording = Recording.objects.get(call=call)
    assert default_storage.exists(recording.file.name) and recording.duration_seconds > 1
