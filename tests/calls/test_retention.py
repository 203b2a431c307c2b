"""Retention: `manage.py housekeeping` deletes recordings (file and row) and transcripts past their age."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from calls.models import Call, CallMetrics, Recording, TranscriptSegment

from .conftest import make_call


@pytest.mark.django_db
def test_housekeeping_deletes_only_what_is_past_retention(agent, settings):
    settings.RETENTION_DAYS_RECORDINGS = 30
    settings.RETENTION_DAYS_TRANSCRIPTS = 90
    now = timezone.now()
    ancient = make_call(agent=agent, started_at=now - timedelta(days=100), recording_seconds=0.2, metrics={})
    middle = make_call(agent=agent, started_at=now - timedelta(days=45), recording_seconds=0.2)
    fresh = make_call(agent=agent, started_at=now - timedelta(days=2), recording_seconds=0.2)
    files = {c.pk: c.recording.file.name for c in (ancient, middle, fresh)}

    out = StringIO()
    call_command("housekeeping", stdout=out)
    assert "2 recording(s), 3 transcript segment(s) deleted" in out.getvalue()

    assert not default_storage.exists(files[ancient.pk]) and not default_storage.exists(files[middle.pk])
    assert default_storage.exists(files[fresh.pk])
    assert set(Recording.objects.values_list("call_id", flat=True)) == {fresh.pk}
    assert set(TranscriptSegment.objects.values_list("call_id", flat=True)) == {middle.pk, fresh.pk}
    # The calls themselves and their metrics stay: history and statistics are not personal content.
    assert Call.objects.count() == 3 and CallMetrics.objects.filter(call=ancient).exists()


@pytest.mark.django_db
def test_zero_days_keeps_everything_and_a_missing_file_still_clears_the_row(agent, settings):
    """Thrown at it: retention 0 (disabled) for transcripts, and a recording row whose file is already gone.
    Survives: no transcript is deleted; the orphan row is removed without an error."""
    settings.RETENTION_DAYS_RECORDINGS = 1
    settings.RETENTION_DAYS_TRANSCRIPTS = 0
    call = make_call(agent=agent, started_at=timezone.now() - timedelta(days=400), recording_seconds=0.2)
    default_storage.delete(call.recording.file.name)
    call_command("housekeeping", stdout=StringIO())
    assert not Recording.objects.exists()
    assert TranscriptSegment.objects.filter(call=call).count() == 3


@pytest.mark.django_db
def test_the_beat_task_runs_retention(agent, settings):
    from calls.retention import purge_expired_task

    settings.RETENTION_DAYS_RECORDINGS = 10
    make_call(agent=agent, started_at=timezone.now() - timedelta(days=11), recording_seconds=0.2)
    assert purge_expired_task.delay().get()["recordings"] == 1
    assert "calls.retention.purge_expired" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
