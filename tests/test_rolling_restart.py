"""A rolling restart of the production topology with calls in progress (`bench/rolling_restart.py`, 6 calls).

Thrown: with six real-time Twilio calls (6 s each) going on through HAProxy (signed voice webhook, then the Media
Stream), SIGTERM to each of two real `python -m contactcenter.serve` (daphne: webhooks) and two real
`python -m contactcenter.streams` (uvicorn: the media streams) processes in turn (each started again once
it drained and exited), then SIGKILL to the streams process holding the most calls; new calls keep coming.
Survives: every call of the restarted processes (the caller hangs up normally, its row is `completed`
with metrics and transcript: none dropped, no record lost), every new call (answered in every phase,
none refused), and the killed process's calls (marked failed "process ended" by `housekeeping` within
60 s, with the agent's lines said before the kill still stored).
"""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
from django.conf import settings
from django.db import connection

from bench.rolling_restart import Options, run
from tests.conftest import ARTIFACTS
from tests.support.live import database_url


@pytest.mark.production
@pytest.mark.production_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_rolling_restart_drops_no_call_and_marks_the_killed_processes_calls():
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is missing: .ci/run installs it")
        pytest.skip("haproxy is not installed (apt-get install haproxy): the topology needs it")
    options = Options(
        calls=6,
        call_seconds=6.0,
        drain_seconds=60.0,
        sweeper="housekeeping",  # beat sweeps every 15 s; the command in a loop keeps the test short
        heartbeat_seconds=1.0,
        stale_seconds=4.0,
        transcript_save_seconds=0.5,
        log_dir=ARTIFACTS / "logs" / "rolling-restart",
    )
    report = asyncio.run(run(options, database_url(connection.settings_dict), settings.REDIS_URL))
    assert not report.failures, report.text
    assert report.figures["killed"] > 0 and report.figures["dropped"] == 0 and report.figures["lost"] == 0
