"""The spool in embedded mode: `housekeeping` runs spooled jobs, survives junk, and stores once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from calls import spool
from calls.models import CallMetrics, TranscriptSegment

from .conftest import make_call


def _payload(call) -> dict:
    return {
        "call_id": str(call.pk),
        "status": "completed",
        "end_reason": "agent ended the call",
        "answered_at": None,
        "ended_at": timezone.now().isoformat(),
        "tokens": {"prompt": 1, "response": 2, "total": 3},
        "segments": [{"speaker": "caller", "text": "hello", "start_ms": 0, "end_ms": 500}],
        "metrics": {"turns": 1},
        "tool_invocations": [],
        "recording": None,
    }


@pytest.fixture
def spool_dir(settings, tmp_path):
    settings.SPOOL_DIR = tmp_path / "spool"
    return settings.SPOOL_DIR


@pytest.mark.django_db
def test_spooled_job_is_stored_by_housekeeping_once_even_if_spooled_twice(agent, spool_dir):
    call = make_call(agent=agent, status="in_progress", transcript=False)
    spool.write("calls.tasks.store_call", [_payload(call)], {})
    spool.write("calls.tasks.store_call", [_payload(call)], {})
    out = StringIO()
    call_command("housekeeping", stdout=out)
    assert "resent 2 spooled job(s), 0 left" in out.getvalue()
    call.refresh_from_db()
    assert call.status == "completed" and call.end_reason == "agent ended the call"
    assert TranscriptSegment.objects.filter(call=call).count() == 1
    assert CallMetrics.objects.filter(call=call).count() == 1


@pytest.mark.django_db
def test_junk_in_the_spool_is_set_aside_and_the_rest_still_runs(agent, spool_dir):
    """Thrown at it: a truncated JSON file and a half-written temp file in the spool.
    Survives: the truncated job is renamed *.bad for a person to look at, the temp file is ignored,
    and the good job is stored."""
    call = make_call(agent=agent, status="in_progress", transcript=False)
    spool_dir.mkdir(parents=True, exist_ok=True)
    (spool_dir / "00000000000000000001-junk.json").write_text('{"task": "calls.tasks.sto')
    (spool_dir / ".00000000000000000002-half.tmp").write_text("{")
    spool.write("calls.tasks.store_call", [_payload(call)], {})
    call_command("housekeeping", stdout=StringIO())
    assert (spool_dir / "00000000000000000001-junk.json.bad").exists()
    assert spool.pending() == []
    assert CallMetrics.objects.filter(call=call).count() == 1


@pytest.mark.django_db
def test_a_job_claimed_by_a_resender_that_died_is_put_back(agent, spool_dir):
    call = make_call(agent=agent, status="in_progress", transcript=False)
    path = spool.write("calls.tasks.store_call", [_payload(call)], {})
    claimed = path.with_name(path.name + ".sending-99999")
    path.rename(claimed)
    assert spool.pending() == []
    assert spool.recover_claims(older_than_seconds=0) == 1
    assert spool.resend() == 1
    assert CallMetrics.objects.filter(call=call).count() == 1
