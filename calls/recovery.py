"""Crash recovery: close the calls of a process that died, so no row stays `in_progress` for ever.

A process holding calls heartbeats (`engine.presence`); when its heartbeat is older than
PROCESS_STALE_SECONDS, `sweep()` marks its live calls `failed` with reason "process ended" (ended at its
last heartbeat), which also frees their agents' concurrent-call slots, and forgets the process. What was
stored of those calls stays, and the recording file written during the call is finalised (its header
set to the audio that reached the disk) and stored as the call's Recording, so it plays on the call page. Run by Celery beat in production and `housekeeping` in embedded mode.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import recordfile
from .models import Call, CallProcess, Recording

log = logging.getLogger(__name__)

PROCESS_ENDED = "process ended"


def heartbeat(name: str) -> None:
    """Record that process `name` is alive (sync ORM: called from a worker thread)."""
    CallProcess.objects.update_or_create(name=name, defaults={"heartbeat_at": timezone.now()})


def sweep(now: datetime | None = None) -> int:
    """Close the live calls of every process whose heartbeat stopped; returns how many calls."""
    now = now or timezone.now()
    stale = CallProcess.objects.filter(
        heartbeat_at__lt=now - timedelta(seconds=settings.PROCESS_STALE_SECONDS)
    )
    closed = 0
    for process in stale:
        with transaction.atomic():
            live = Call.objects.select_for_update().filter(
                process=process.name, status__in=Call.LIVE_STATUSES
            )
            calls = list(live)
            count = live.update(
                status=Call.Status.FAILED, end_reason=PROCESS_ENDED, ended_at=process.heartbeat_at
            )
            CallProcess.objects.filter(pk=process.pk, heartbeat_at=process.heartbeat_at).delete()
        for call in calls:
            keep_partial_recording(call)
        if count:
            log.error(
                "process %s stopped heartbeating at %s: %d live call(s) marked failed (%s)",
                process.name, process.heartbeat_at.isoformat(), count, PROCESS_ENDED,
            )  # fmt: skip
        closed += count
    return closed


def keep_partial_recording(call: Call) -> Recording | None:
    """Finalise the recording file a dead process was writing for `call` and store it (idempotent)."""
    answered = call.answered_at or call.started_at
    if answered is None or Recording.objects.filter(call=call).exists():
        return None
    name = recordfile.name_for(call.pk, answered)
    try:
        finished = recordfile.finalise(recordfile.local_path(name))
        if finished is None:
            return None
        rate, seconds = finished
        name = recordfile.publish(name, recordfile.local_path(name))
    except OSError:
        log.exception("the partial recording of call %s could not be kept", call.pk)
        return None
    recording, _ = Recording.objects.get_or_create(
        call=call, defaults={"file": name, "duration_seconds": round(seconds, 2), "sample_rate": rate}
    )
    log.warning("call %s: kept %.1f s of recording written before its process ended", call.pk, seconds)
    return recording


@shared_task(name="calls.recovery.sweep")
def sweep_task() -> int:
    return sweep()
