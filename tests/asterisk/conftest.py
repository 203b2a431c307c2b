"""The Asterisk emulator and `manage.py runasterisk` child processes pointed at it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ARTIFACTS, gemini_env
from tests.support.live import ROOT, database_url, free_port

ARI_USER, ARI_PASSWORD = "asterisk", "s3cret-ari-pass"


@pytest.fixture(scope="session")
def sounds_dir(tmp_path_factory) -> Path:
    """The prompts as Asterisk sounds, written by `runasterisk --write-sounds` as a user would."""
    path = tmp_path_factory.mktemp("asterisk-sounds")
    subprocess.run(
        [sys.executable, "manage.py", "runasterisk", "--write-sounds", str(path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def asterisk(sounds_dir):
    from emulators.asterisk.testing import start_in_thread

    emulator = start_in_thread(users={ARI_USER: ARI_PASSWORD}, sounds_dir=sounds_dir)
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def emulator_baseline(request):
    """Record the legs and bridges on the emulator before each test that uses it, so a test judges
    only what its own call left (tests/asterisk/test_calls.call_resources_gone)."""
    from .test_calls import EMULATOR_BASELINE

    EMULATOR_BASELINE.clear()
    if "asterisk" in request.fixturenames:
        emulator = request.getfixturevalue("asterisk")
        emu = emulator.emulator
        EMULATOR_BASELINE.update(
            emulator.call(
                lambda: {
                    "legs": {c for c in emu.channels if c.startswith("cc-leg-")},
                    "bridges": set(emu.bridges),
                }
            )
        )
    yield


@dataclass
class RunAsterisk:
    app: str
    process: subprocess.Popen
    log_path: Path
    transport: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


# RTP port blocks of 200 from 30000; each parallel test worker (gw0, gw1, ...) starts 4,000 higher.
_port_block = [30000 + 4000 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)]


def start_runasterisk(
    asterisk, db_url: str, env_extra: dict[str, str], transport: str, app: str
) -> RunAsterisk:
    low = _port_block[0]
    _port_block[0] += 200
    env = {
        **os.environ,
        **env_extra,
        "DATABASE_URL": db_url,
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "DRAIN_SECONDS": "2",  # SIGTERM at teardown drains: keep it short
        "ARI_URL": asterisk.ari_url,
        "ARI_USERNAME": ARI_USER,
        "ARI_PASSWORD": ARI_PASSWORD,
        "ARI_APP": app,
        "MEDIA_BIND_HOST": "127.0.0.1",
        "MEDIA_ADVERTISE_HOST": "127.0.0.1",
        "RTP_PORT_RANGE": f"{low}-{low + 199}",
        "AUDIOSOCKET_PORT": str(free_port()),
        "ASTERISK_SOUNDS_PORT": str(free_port()),
        "ASTERISK_MEDIA_TRANSPORT": transport,
        "LOG_LEVEL": "INFO",
    }
    log_dir = ARTIFACTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"runasterisk-{app}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - the child's for its lifetime
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runasterisk"],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    run = RunAsterisk(app, process, log_path, transport)
    deadline = time.monotonic() + 30
    while not asterisk.call(asterisk.emulator.app_registered, app):
        if process.poll() is not None or time.monotonic() > deadline:
            run.stop()
            raise RuntimeError(f"runasterisk did not register app {app}:\n{run.log()}")
        time.sleep(0.05)
    return run


@pytest.fixture(scope="session")
def runasterisk(django_db_setup, django_db_blocker, asterisk, gemini_emulator):
    """A factory: one runasterisk child per default transport, shared by the session."""
    from django.db import connection

    started: dict[str, RunAsterisk] = {}

    def get(transport: str) -> RunAsterisk:
        if transport not in started:
            app = "cc-" + transport.replace(":", "-")
            started[transport] = start_runasterisk(
                asterisk, database_url(connection.settings_dict), gemini_env(gemini_emulator), transport, app
            )
        return started[transport]

    yield get
    for run in started.values():
        run.stop()


@pytest.fixture
def asterisk_agent(transactional_db):
    from agents.models import Agent, Tool

    agent = Agent.objects.create(
        name="Asterisk test agent",
        system_prompt="You are a support agent for Example Corp.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
        record_calls=True,
    )
    agent.tools.add(Tool.objects.create(name="end_call", kind="end_call", description="End the call."))
    return agent


# --- listening to what the caller heard ------------------------------------------------------------
FRAME = 640  # 20 ms at 16 kHz


def frame_rms(pcm: bytes) -> np.ndarray:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % FRAME], dtype="<i2").astype(np.float64)
    return np.sqrt((samples.reshape(-1, FRAME // 2) ** 2).mean(axis=1)) if len(samples) else np.zeros(0)


def utterances(pcm: bytes, threshold: float = 300.0, gap_frames: int = 30) -> list[tuple[int, int]]:
    """(start, end) byte offsets of speech runs separated by >= gap_frames of quiet."""
    rms = frame_rms(pcm)
    runs: list[tuple[int, int]] = []
    start = last = None
    for i, value in enumerate(rms):
        if value >= threshold:
            if start is None:
                start = i
            elif i - last > gap_frames:
                runs.append((start, last + 1))
                start = i
            last = i
    if start is not None:
        runs.append((start, last + 1))
    return [(a * FRAME, b * FRAME) for a, b in runs]
