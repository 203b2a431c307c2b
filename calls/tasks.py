"""Celery tasks that store what a call leaves behind."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import httpx
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils.dateparse import parse_datetime

from agents.models import extract_field_names
from agents.snapshot import after_call_settings

from .costs import cost_of
from .models import Call, CallMetrics, Recording, ToolInvocation, TranscriptSegment
from .redaction import redact

log = logging.getLogger(__name__)


def _dt(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def _cleaner(call: Call):
    """`redact`, or `str` for a call whose version keeps the numbers (`calls.redaction`)."""
    return redact if after_call_settings(call.agent_snapshot, call.agent)["redact_transcripts"] else str


def _save_segments(call: Call, segments: list[dict]) -> None:
    """Insert the segments not stored yet (a segment is known by its `seq` in the call), with card
    numbers and national ids redacted unless the call's agent keeps them (`calls.redaction`)."""
    clean = _cleaner(call)
    TranscriptSegment.objects.bulk_create(
        (
            TranscriptSegment(
                call=call,
                seq=s.get("seq", i),
                speaker=s["speaker"],
                text=clean(s["text"]),
                start_ms=s["start_ms"],
                end_ms=s["end_ms"],
            )
            for i, s in enumerate(segments)
        ),
        ignore_conflicts=True,
    )


def _redacted(value, clean):
    """`value` (JSON: dicts, lists, strings, numbers) with every string passed through `clean`."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: _redacted(v, clean) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, clean) for v in value]
    return value


def _save_invocations(call: Call, invocations: list[dict]) -> None:
    """Insert the tool invocations not stored yet (one is known by its `seq` in the call), their
    arguments and results redacted like the transcript (the model may pass on a number it heard)."""
    clean = _cleaner(call)
    ToolInvocation.objects.bulk_create(
        (
            ToolInvocation(
                call=call,
                seq=t.get("seq"),
                tool_id=t.get("tool_id"),
                tool_name=t["tool_name"],
                gemini_call_id=t.get("gemini_call_id", ""),
                arguments=_redacted(t.get("arguments") or {}, clean),
                result=_redacted(t.get("result"), clean),
                error=t.get("error", ""),
                latency_ms=t.get("latency_ms", 0),
                cancelled=t.get("cancelled", False),
                retryable=t.get("retryable", False),
                repeats=t.get("repeats", 0),
            )
            for t in invocations
        ),
        ignore_conflicts=True,
    )


def _save_progress(call_id: str, segments: list[dict], metrics: dict | None) -> int:
    """A call in progress: its new segments, and a metrics snapshot that never replaces the final one."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return 0
    _save_segments(call, segments)
    if metrics is not None:
        with transaction.atomic():
            if not CallMetrics.objects.filter(call=call, final=True).exists():
                CallMetrics.objects.update_or_create(call=call, defaults={**metrics, "final": False})
    return len(segments)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def store_segments(call_id: str, segments: list[dict], metrics: dict | None = None) -> int:
    """Store transcript segments (and a metrics snapshot) while the call goes on, so a crash keeps what
    was said (idempotent; a snapshot never replaces the final metrics stored with the call).

    One call's job, as processes before `store_progress` queued it (kept for jobs still in a queue or
    a spool across an upgrade)."""
    return _save_progress(call_id, segments, metrics)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def store_progress(entries: list[dict]) -> int:
    """`store_segments` for every call of a process at once (`engine.progress`): each entry holds a
    `call_id`, its new `segments` and a `metrics` snapshot or None. Idempotent, so a retry of the
    whole batch stores nothing twice. Returns the number of segments stored."""
    return sum(_save_progress(e["call_id"], e["segments"], e.get("metrics")) for e in entries)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def store_tool_invocations(call_id: str, invocations: list[dict]) -> int:
    """Store tool invocations as each finishes during the call, so a crash keeps them (idempotent)."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return 0
    _save_invocations(call, invocations)
    return len(invocations)


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
        if CallMetrics.objects.filter(call=call, final=True).exists():
            return "duplicate"
        call.status = payload.get("status") or Call.Status.COMPLETED
        call.end_reason = payload.get("end_reason", "")[:100]
        call.answered_at = _dt(payload.get("answered_at")) or call.answered_at
        call.ended_at = _dt(payload.get("ended_at"))
        tokens = payload.get("tokens") or {}
        call.tokens_prompt = tokens.get("prompt", 0)
        call.tokens_response = tokens.get("response", 0)
        call.tokens_total = tokens.get("total", 0)
        per_modality = {side: tokens.get(side) or {} for side in ("input", "output")}
        call.tokens_input_audio = per_modality["input"].get("AUDIO", 0)
        call.tokens_input_text = per_modality["input"].get("TEXT", 0)
        call.tokens_output_audio = per_modality["output"].get("AUDIO", 0)
        call.tokens_output_text = per_modality["output"].get("TEXT", 0)
        model = (call.agent_snapshot or {}).get("model", "")
        call.cost, call.cost_basis = cost_of(model, per_modality) if tokens else (None, "")
        handoff = payload.get("handoff") or {}
        if handoff:
            call.handoff_to = str(handoff.get("to", ""))[:80]
            call.handoff_outcome = str(handoff.get("outcome", ""))[:16]
            call.handoff_seconds = handoff.get("seconds")
        call.save()
        _save_segments(call, payload.get("segments", []))
        # A snapshot stored during the call is replaced by the final figures.
        CallMetrics.objects.update_or_create(
            call=call, defaults={**payload.get("metrics", {}), "final": True}
        )
        _save_invocations(call, payload.get("tool_invocations", []))
        for t in payload.get("tool_invocations", []):
            if t.get("repeats") and t.get("seq") is not None:  # repeats answered after it was first stored
                ToolInvocation.objects.filter(call=call, seq=t["seq"]).update(repeats=t["repeats"])
        rec = payload.get("recording")
        if rec:
            Recording.objects.update_or_create(
                call=call,
                defaults={
                    "file": rec["name"],
                    "duration_seconds": rec["duration_seconds"],
                    "sample_rate": rec["sample_rate"],
                    "channels": rec.get("channels", 2),
                },
            )
        if payload.get("segments"):
            transaction.on_commit(lambda: _queue_after_call(str(call.pk)))
    return "stored"


def _queue_after_call(call_id: str) -> None:
    from calls.jobs import send

    try:
        send(after_call, call_id)
    except Exception:  # an after-call job must never undo or repeat the storing of the call
        log.exception("after-call job for %s could not be queued", call_id)


@shared_task
def after_call(call_id: str) -> str:
    """Summary and extract fields from a Gemini text model, then the agent's post-call webhook.

    Never raises: a failure is logged and the call keeps what was stored.
    """
    from agents.signing import sign
    from calls.summary import summarize

    call = Call.objects.select_related("agent").filter(pk=call_id).first()
    if call is None:
        return "missing"
    segments = list(call.segments.order_by("start_ms", "id"))
    transcript = "\n".join(f"{s.speaker}: {s.text}" for s in segments)
    agent = call.agent
    after = after_call_settings(call.agent_snapshot, agent)  # as the version the call ran on said
    fields = extract_field_names(after["extract_fields"])
    summary, extracted = "", {}
    if settings.GEMINI_SUMMARY_MODEL and transcript:
        try:
            summary, extracted = summarize(transcript, fields)
        except Exception as exc:  # noqa: BLE001 - Gemini down or refusing: keep the call as stored
            log.warning("after-call summary of %s failed: %s", call_id, exc)
    Call.objects.filter(pk=call.pk).update(summary=summary, extracted=extracted)
    if agent and after["post_call_webhook_url"]:
        body = json.dumps(
            {
                "call_id": str(call.pk),
                "agent": agent.name,
                "carrier": call.carrier,
                "direction": call.direction,
                "from": call.from_number,
                "to": call.to_number,
                "status": call.status,
                "end_reason": call.end_reason,
                "summary": summary,
                "extracted": extracted,
                "transcript": [
                    {"speaker": s.speaker, "text": s.text, "start_ms": s.start_ms} for s in segments
                ],
            },
            sort_keys=True,
        ).encode()
        headers = {"Content-Type": "application/json"}
        if agent.post_call_webhook_secret:
            headers["X-Signature"] = sign(agent.post_call_webhook_secret, body)
        try:
            httpx.post(
                after["post_call_webhook_url"], content=body, headers=headers, timeout=10
            ).raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("post-call webhook for %s failed: %s", call_id, exc)
            return "webhook failed"
    return "done"
