"""Factories for the dashboard tests: calls with transcripts, metrics, tools and recordings."""

from __future__ import annotations

import io
import math
import struct
import uuid
import wave
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from agents.snapshot import snapshot
from calls.models import Call, CallMetrics, Recording, ToolInvocation, TranscriptSegment


def minutes_into_the_day(needed: int = 15):
    """Now, or (in the first `needed` minutes after local midnight) a moment late yesterday: calls made
    a few minutes before it fall on one day, so a per-day chart shows them in one bar."""
    now = timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return now if now - midnight >= timedelta(minutes=needed) else midnight - timedelta(minutes=1)


def stereo_wav(
    seconds: float = 2.0, rate: int = 8000, left_hz: float = 440.0, right_hz: float = 1000.0
) -> bytes:
    """A stereo 16-bit WAV: a tone for the caller (left) and another for the agent (right)."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        left = int(8000 * math.sin(2 * math.pi * left_hz * n / rate))
        right = int(8000 * math.sin(2 * math.pi * right_hz * n / rate))
        frames += struct.pack("<hh", left, right)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


def make_call(
    *,
    agent=None,
    carrier: str = "twilio",
    direction: str = "inbound",
    status: str = "completed",
    from_number: str = "+14155550100",
    to_number: str = "+14155550199",
    started_at=None,
    transcript: bool = True,
    metrics: dict | None = None,
    tools: bool = False,
    recording_seconds: float | None = None,
    end_reason: str = "caller hung up",
) -> Call:
    """One finished (or live) call with what a call leaves behind, written straight to the database."""
    started_at = started_at or timezone.now()
    answered = started_at + timedelta(seconds=1) if status in ("completed", "in_progress") else None
    call = Call.objects.create(
        carrier=carrier,
        direction=direction,
        status=status,
        from_number=from_number,
        to_number=to_number,
        agent=agent,
        carrier_call_id=f"CA{uuid.uuid4().hex}",
        answered_at=answered,
        ended_at=started_at + timedelta(seconds=31) if status not in ("ringing", "in_progress") else None,
        end_reason=end_reason if status not in ("ringing", "in_progress") else "",
        tokens_prompt=120,
        tokens_response=80,
        tokens_total=200,
        agent_snapshot=snapshot(agent).to_json() if agent is not None else {},
    )
    # started_at is auto_now_add: set the wanted time afterwards.
    Call.objects.filter(pk=call.pk).update(started_at=started_at)
    call.refresh_from_db()
    if transcript:
        TranscriptSegment.objects.bulk_create(
            [
                TranscriptSegment(
                    call=call,
                    speaker="agent",
                    text="Hello, thanks for calling Example Corp.",
                    seq=0,
                    start_ms=200,
                    end_ms=2100,
                ),
                TranscriptSegment(
                    call=call,
                    speaker="caller",
                    text="I would like to check the status of my order.",
                    seq=1,
                    start_ms=3000,
                    end_ms=5200,
                ),
                TranscriptSegment(
                    call=call,
                    speaker="agent",
                    text="Your order 1234 ships tomorrow.",
                    seq=2,
                    start_ms=65000,
                    end_ms=67500,
                ),
            ]
        )
    if metrics is not None:
        CallMetrics.objects.create(call=call, **metrics)
    if tools:
        ToolInvocation.objects.create(
            call=call,
            tool_name="lookup_order",
            gemini_call_id="fc-1",
            arguments={"order_id": "1234"},
            result={"status": "ships tomorrow"},
            latency_ms=42.0,
        )
    if recording_seconds is not None:
        name = default_storage.save(
            f"recordings/test/{call.pk}.wav", ContentFile(stereo_wav(recording_seconds))
        )
        Recording.objects.create(
            call=call, file=name, duration_seconds=recording_seconds, sample_rate=8000, channels=2
        )
    return call


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def plain_user(db, django_user_model):
    return django_user_model.objects.create_user("clerk", "clerk@example.com", "correct horse battery")
