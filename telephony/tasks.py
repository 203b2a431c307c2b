"""Celery tasks that store what a call leaves behind."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.db import transaction
from django.utils.dateparse import parse_datetime

from .models import Call, CallMetrics, Recording, ToolInvocation, TranscriptSegment

log = logging.getLogger(__name__)


def _dt(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def store_call(payload: dict) -> str:
    """Store a finished call: status, transcript, recording, metrics, tool invocations.

    Idempotent (keyed on the call id): a payload delivered twice (a broker redelivery, a resend
    from the spool) is stored once.
    """
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=payload["call_id"]).first()
        if call is None:
            log.error("store_call: call %s does not exist; payload kept in the log", payload["call_id"])
            return "missing"
        if CallMetrics.objects.filter(call=call).exists():
            return "duplicate"
        call.status = payload.get("status") or Call.Status.COMPLETED
        call.end_reason = payload.get("end_reason", "")[:100]
        call.answered_at = _dt(payload.get("answered_at")) or call.answered_at
        call.ended_at = _dt(payload.get("ended_at"))
        tokens = payload.get("tokens") or {}
        call.tokens_prompt = tokens.get("prompt", 0)
        call.tokens_response = tokens.get("response", 0)
        call.tokens_total = tokens.get("total", 0)
        call.save()
        TranscriptSegment.objects.bulk_create(
            TranscriptSegment(
                call=call, speaker=s["speaker"], text=s["text"], start_ms=s["start_ms"], end_ms=s["end_ms"]
            )
            for s in payload.get("segments", [])
        )
        CallMetrics.objects.create(call=call, **payload.get("metrics", {}))
        ToolInvocation.objects.bulk_create(
            ToolInvocation(
                call=call,
                tool_id=t.get("tool_id"),
                tool_name=t["tool_name"],
                gemini_call_id=t.get("gemini_call_id", ""),
                arguments=t.get("arguments") or {},
                result=t.get("result"),
                error=t.get("error", ""),
                latency_ms=t.get("latency_ms", 0),
            )
            for t in payload.get("tool_invocations", [])
        )
        rec = payload.get("recording")
        if rec:
            Recording.objects.create(
                call=call,
                file=rec["name"],
                duration_seconds=rec["duration_seconds"],
                sample_rate=rec["sample_rate"],
                channels=rec.get("channels", 2),
            )
    return "stored"
