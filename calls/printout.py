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
    while True:
        call = Call.objects.filter(carrier=carrier, carrier_call_id=carrier_call_id).first()
        if call is not None and CallMetrics.objects.filter(call=call).exists():
            return call
        if time.monotonic() >= deadline:
            return call
        time.sleep(0.25)


def call_url(call: Call) -> str:
    """The call page's address on this installation (PUBLIC_BASE_URL, else the local default)."""
    base = settings.PUBLIC_BASE_URL or "http://127.0.0.1:8000"
    return base + reverse("dashboard:call", args=[call.pk])


def transcript_lines(call: Call) -> list[str]:
    """The stored transcript, one line per segment, timed from the answer."""
    return [
        f"  {seg.start_ms / 1000:6.1f}s {seg.speaker:>6}: {seg.text}"
        for seg in call.segments.order_by("start_ms", "seq")
    ]


def summary_lines(call: Call | None, what: str) -> list[str]:
    """What a demo prints at the end: status, the app's transcript and the call page's link."""
    if call is None:
        return [f"The app stored no call for {what} (was the call refused before it started?)."]
    lines = [f"The app's record of the call: {call.get_status_display()} ({call.end_reason or '-'})"]
    if not hasattr(call, "metrics") and not CallMetrics.objects.filter(call=call).exists():
        lines.append("  (not stored yet: the transcript may be incomplete)")
    lines += transcript_lines(call) or ["  (no transcript)"]
    lines.append(f"Call page: {call_url(call)}")
    return lines


def stored_summary(carrier: str, carrier_call_id: str, what: str, timeout: float = 15.0) -> list[str]:
    """`summary_lines` once the call is stored (blocking: from a thread or a command)."""
    return summary_lines(wait_stored(carrier, carrier_call_id, timeout), what)
