"""A stored call as a demo command prints it: the app's own transcript and a link to the call page.

The demo commands (`democall`, the carrier and Asterisk emulators) print this rather than what their
own 8 kHz recogniser heard, so what a newcomer reads is what the dashboard shows.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.urls import reverse

from .models import Call, CallMetrics


def wait_stored(carrier: str, carrier_call_id: str, timeout: float = 15.0) -> Call | None:
    """The call once `store_call` has stored it (its metrics exist), or None after `timeout` seconds.

    Blocking (it polls the database): call it from a thread or a command, never from a live call.
    """
    deadline = time.monotonic() + timeout
    calls = Call.objects.filter(carrier=carrier, carrier_call_id=carrier_call_id)
    while time.monotonic() < deadline:
        # One query: the row and its metrics are committed together, so a stored call is never
        # read half-old (status still "in progress") beside its new metrics.
        call = calls.filter(metrics__final=True).first()
        if call is not None:
            return call
        time.sleep(0.25)
    return calls.first()


def call_url(call: Call, base_url: str = "") -> str:
    """The call page's address: on `base_url` (the app a demo called), else PUBLIC_BASE_URL."""
    base = (base_url or settings.PUBLIC_BASE_URL or "http://127.0.0.1:8000").rstrip("/")
    return base + reverse("dashboard:call", args=[call.pk])


def transcript_lines(call: Call) -> list[str]:
    """The stored transcript, one line per segment, timed from the answer."""
    return [
        f"  {seg.start_ms / 1000:6.1f}s {seg.speaker:>6}: {seg.text}"
        for seg in call.segments.order_by("start_ms", "seq")
    ]


def summary_lines(call: Call | None, what: str, base_url: str = "") -> list[str]:
    """What a demo prints at the end: status, the app's transcript and the call page's link."""
    if call is None:
        return [f"The app stored no call for {what} (was the call refused before it started?)."]
    lines = [f"The app's record of the call: {call.get_status_display()} ({call.end_reason or '-'})"]
    if not CallMetrics.objects.filter(call=call).exists():
        lines.append("  (not stored yet: the transcript may be incomplete; the call page will have it all)")
    lines += transcript_lines(call) or ["  (no transcript)"]
    lines.append(f"Call page: {call_url(call, base_url)}")
    return lines


def stored_summary(
    carrier: str, carrier_call_id: str, what: str, timeout: float = 15.0, base_url: str = ""
) -> list[str]:
    """`summary_lines` once the call is stored (blocking: from a thread or a command)."""
    return summary_lines(wait_stored(carrier, carrier_call_id, timeout), what, base_url)
