"""Crash recovery: a process holding a call dies without a word (SIGKILL); the call does not stay live.

Thrown: SIGKILL to a real `manage.py democall` process in the middle of its call.
Survives: the Call row, marked `failed` with reason "process ended" by `housekeeping` once the process's
heartbeat is stale; what was said before the crash (segments are stored during the call, not only at
its end); and the agent's concurrent-call slot, which the next call gets.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.db import connection

from calls.models import Call, CallProcess
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
