"""One way to show a time on every page: the configured zone (TIME_ZONE), 24-hour, zone named.

The history, the call page, the live list (server-rendered and over the WebSocket) and demo printouts
all go through `when`, so the same moment reads the same everywhere.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import dateformat, timezone

DATETIME_FORMAT = "Y-m-d H:i:s T"  # Django date format: 2026-12-02 09:41:07 UTC


def when(value: datetime | None) -> str:
    """`value` in the configured zone as DATETIME_FORMAT; "—" for no time."""
    if value is None:
        return "—"
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return dateformat.format(value, DATETIME_FORMAT)
