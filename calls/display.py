"""One way to show a time on every page: the configured zone (TIME_ZONE), 24-hour, zone named.

The history, the call page, the live list (server-rendered and over the WebSocket) and demo printouts
all go through `when`, so the same moment reads the same everywhere.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import formats, timezone


def when(value: datetime | None) -> str:
    """`value` in the configured zone as DATETIME_FORMAT (contactcenter/formats); "—" for no time."""
    if value is None:
        return "—"
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, "DATETIME_FORMAT")
