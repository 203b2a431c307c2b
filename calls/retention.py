"""Retention: recordings and transcripts older than the configured number of days are deleted.

Run by Celery beat in production (`purge_expired_task`) and by `manage.py housekeeping --loop` in
embedded mode. Age is the call's start time. A setting of 0 (or less) keeps that kind forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from calls.models import Recording, TranscriptSegment

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class Purged:
    recordings: int = 0
    files: int = 0
    segments: int = 0


def purge_expired(now: datetime | None = None) -> Purged:
    """Delete expired recordings (file, then row) and transcript segments; say how many."""
    now = now or timezone.now()
    purged = Purged()
    rec_days = settings.RETENTION_DAYS_RECORDINGS
    if rec_days > 0:
        cutoff = now - timedelta(days=rec_days)
        while True:
            batch = list(Recording.objects.filter(call__started_at__lt=cutoff).order_by("pk")[:BATCH])
            if not batch:
                break
            for recording in batch:
                name = recording.file.name
                if name:
                    storage = recording.file.storage
                    try:
                        if storage.exists(name):
                            storage.delete(name)
                            purged.files += 1
                    except OSError as exc:  # keep the row so the next run retries the file
                        log.error("could not delete recording file %s: %s", name, exc)
                        continue
                recording.delete()
                purged.recordings += 1
            if len(batch) < BATCH:
                break
    seg_days = settings.RETENTION_DAYS_TRANSCRIPTS
    if seg_days > 0:
        cutoff = now - timedelta(days=seg_days)
        purged.segments, _ = TranscriptSegment.objects.filter(call__started_at__lt=cutoff).delete()
    if purged.recordings or purged.segments:
        log.info(
            "retention: deleted %d recording(s) (%d file(s)), %d transcript segment(s)",
            purged.recordings,
            purged.files,
            purged.segments,
        )
    return purged


@shared_task(name="calls.retention.purge_expired")
def purge_expired_task() -> dict:
    """The periodic (beat) entry point."""
    return purge_expired().__dict__


@shared_task(name="calls.spool.resend")
def resend_spool_task() -> int:
    """Beat entry point for resending spooled jobs (where the spool dir is shared with workers)."""
    from calls import spool

    spool.recover_claims()
    return spool.resend()
