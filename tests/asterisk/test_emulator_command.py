"""`manage.py asterisk_emulator` as docs/emulators.md gives it: `call` at its prompt reaches the demo
extension through `runasterisk`, and the emulator prints each step and the app's transcript."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time

import pytest
from django.core.management import call_command

from tests.conftest import ARTIFACTS, gemini_env
from tests.support.live import ROOT, database_url, free_port

from .conftest import _port_block


def _lines(stream) -> queue.Queue:
    """The child's output lines, read on a thread so every wait on them can be bounded."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: queue.Queue, text: str, seen: list[str], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"{text!r} never printed:\n{''.join(seen)}")


@pytest.mark.django_db(transaction=True)
def test_call_at_the_prompt_reaches_the_demo_extension_and_prints_the_apps_transcript(gemini_emulator):
    """Thrown: the README path with a stand-in PBX: `bootstrap_demo`, the emulator (its own process,
    stdin as the prompt), `runasterisk` pointed at it, then a bare `call` and `hangup` typed. Survived:
    the bare `call` dials the extension `bootstrap_demo` binds, the emulator says it was answered, and
    after the hang-up prints the app's stored transcript with the greeting and the call page."""
    from django.db import connection

    call_command("bootstrap_demo", stdout=open(os.devnull, "w"))
    db_url = database_url(connection.settings_dict)
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"}
    emulator = subprocess.Popen(
        [sys.executable, "manage.py", "asterisk_emulator", "--port", "0", "--user", "asterisk:secret"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen: list[str] = []
    out = _lines(emulator.stdout)
    low = _port_block[0]
    _port_block[0] += 200
    log_path = ARTIFACTS / "logs" / "runasterisk-emulator-command.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    runner = None
    try:
        banner = _until(out, "ARI at ", seen)
        ari_url = banner.split("ARI at ", 1)[1].strip()
        runner = subprocess.Popen(
            [sys.executable, "manage.py", "runasterisk"],
            cwd=ROOT,
            env={
                **env,
                **gemini_env(gemini_emulator),
                "ARI_URL": ari_url,
                "ARI_USERNAME": "asterisk",
                "ARI_PASSWORD": "secret",
                "MEDIA_BIND_HOST": "127.0.0.1",
                "MEDIA_ADVERTISE_HOST": "127.0.0.1",
                "RTP_PORT_RANGE": f"{low}-{low + 199}",
                "AUDIOSOCKET_PORT": str(free_port()),
                "ASTERISK_SOUNDS_PORT": str(free_port()),
                "LOG_LEVEL": "INFO",
                "DRAIN_SECONDS": "2",
            },
            stdout=open(log_path, "wb"),  # noqa: SIM115 - the child's for its lifetime
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "events socket up" not in log_path.read_text(errors="replace"):
            assert runner.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)

        emulator.stdin.write("call\n")
        emulator.stdin.flush()
        assert "100@from-internal" in _until(out, "calling ", seen)
        _until(out, "answered; the agent is speaking", seen)
        time.sleep(10)  # the greeting plays (the transcript below must hold it)
        emulator.stdin.write("hangup\n")
        emulator.stdin.flush()
        _until(out, "call over", seen)
        _until(out, "The app's record of the call:", seen)
        _until(out, "Call page: ", seen)
        printed = "".join(seen)
        assert "agent: Hello, thanks for calling Example Corp" in printed, printed
    finally:
        for child in (emulator, runner):
            if child is not None and child.poll() is None:
                child.terminate()
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
