"""Queries behind the dashboard and the API: filtering, keyset pages, overview statistics.

Pages are keyset-paginated on (started_at, id), newest first, so page N costs the same as page 1
at any table size (the `call_*_started_idx` indexes serve each filter); counts are capped.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from telephony.models import Call, CallMetrics

COUNT_CAP = 10_000


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def filtered_calls(filters: dict) -> QuerySet[Call]:
    """Calls matching the history filters (see CallFilterForm)."""
    qs = Call.objects.all()
    if filters.get("agent"):
        qs = qs.filter(agent_id=filters["agent"])
    for field in ("carrier", "direction", "status"):
        if filters.get(field):
            qs = qs.filter(**{field: filters[field]})
    if filters.get("date_from"):
        qs = qs.filter(started_at__gte=_day_start(filters["date_from"]))
    if filters.get("date_to"):
        qs = qs.filter(started_at__lt=_day_start(filters["date_to"] + timedelta(days=1)))
    if filters.get("q"):
        term = filters["q"].strip()
        qs = qs.filter(Q(from_number__contains=term) | Q(to_number__contains=term))
    return qs


def encode_cursor(call: Call) -> str:
    return f"{call.started_at.isoformat()}~{call.pk}"


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """(started_at, id) from a cursor, or None when it is missing or malformed."""
    if not cursor or "~" not in cursor:
        return None
    stamp, _, pk = cursor.rpartition("~")
    try:
        when = parse_datetime(stamp.replace(" ", "+"))  # a "+" in a query string arrives as a space
        return (when, uuid.UUID(pk)) if when and timezone.is_aware(when) else None
    except ValueError:
        return None


@dataclass
class Page:
    calls: list[Call]
    newer: str | None  # cursor for the page of newer calls (the previous page), if any
    older: str | None  # cursor for the page of older calls (the next page), if any


def page_of(qs: QuerySet[Call], *, before: str | None, after: str | None, size: int) -> Page:
    """One page of `qs`, newest first; `before`/`after` are cursors from a previous Page."""
    after_key = decode_cursor(after)
    before_key = decode_cursor(before)
    if after_key and not before_key:
        when, pk = after_key
        rows = list(
            qs.filter(Q(started_at__gt=when) | Q(started_at=when, pk__gt=pk)).order_by("started_at", "pk")[
                : size + 1
            ]
        )
        has_newer = len(rows) > size
        calls = list(reversed(rows[:size]))
        return Page(
            calls,
            newer=encode_cursor(calls[0]) if has_newer and calls else None,
            older=encode_cursor(calls[-1]) if calls else None,
        )
    if before_key:
        when, pk = before_key
        qs = qs.filter(Q(started_at__lt=when) | Q(started_at=when, pk__lt=pk))
    rows = list(qs.order_by("-started_at", "-pk")[: size + 1])
    calls = rows[:size]
    return Page(
        calls,
        newer=encode_cursor(calls[0]) if before_key and calls else None,
        older=encode_cursor(calls[-1]) if len(rows) > size else None,
    )


def capped_count(qs: QuerySet[Call], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows match, counting at most `cap` (so a count never scans 100,000 rows)."""
    n = qs.order_by().values("pk")[: cap + 1].count()
    return min(n, cap), n > cap


def nearest_rank(qs: QuerySet, field: str, pct: float) -> float | None:
    """The `pct` percentile of `field` over `qs` (nearest rank), in SQL on any database."""
    values = qs.exclude(**{f"{field}__isnull": True})
    n = values.count()
    if not n:
        return None
    index = max(0, math.ceil(pct / 100 * n) - 1)
    return values.order_by(field).values_list(field, flat=True)[index]


def live_calls(limit: int = 200) -> list[dict]:
    """Calls ringing or in progress right now, in any process, as JSON-ready dicts."""
    rows = (
        Call.objects.filter(status__in=Call.LIVE_STATUSES)
        .select_related("agent")
        .order_by("-started_at")[:limit]
    )
    return [call_summary(call) for call in rows]


def call_summary(call: Call) -> dict:
    return {
        "id": str(call.pk),
        "carrier": call.carrier,
        "direction": call.direction,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "agent": call.agent.name if call.agent_id and call.agent else None,
        "status": call.status,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration_seconds": call.duration_seconds,
        "end_reason": call.end_reason,
    }


def overview(days: int, today: date | None = None) -> dict:
    """Calls per day, answer rate, first-response latency, barge-ins: overall and per agent."""
    today = today or timezone.localdate()
    start_day = today - timedelta(days=days - 1)
    calls = Call.objects.filter(started_at__gte=_day_start(start_day))
    per_day_rows = {
        row["day"]: row
        for row in calls.annotate(day=TruncDate("started_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(total=Count("pk"), answered=Count("answered_at"))
        .order_by("day")
    }
    per_day = []
    for offset in range(days):
        day = start_day + timedelta(days=offset)
        row = per_day_rows.get(day, {})
        per_day.append(
            {"day": day.isoformat(), "total": row.get("total", 0), "answered": row.get("answered", 0)}
        )
    totals = calls.aggregate(total=Count("pk"), answered=Count("answered_at"))
    metrics = CallMetrics.objects.filter(call__in=calls)
    latency = metrics.aggregate(
        mean_first_response_ms=Avg("first_response_ms"),
        mean_turn_latency_ms=Avg("mean_turn_latency_ms"),
        barge_ins=Sum("barge_ins"),
        tool_calls=Sum("tool_calls"),
    )
    agents = []
    for row in (
        calls.values("agent_id", "agent__name")
        .annotate(
            total=Count("pk"),
            answered=Count("answered_at"),
            mean_first_response_ms=Avg("metrics__first_response_ms"),
            barge_ins=Sum("metrics__barge_ins"),
        )
        .order_by("-total")
    ):
        agent_metrics = metrics.filter(call__agent_id=row["agent_id"])
        if row["agent_id"] is None:
            agent_metrics = metrics.filter(call__agent__isnull=True)
        agents.append(
            {
                "agent": row["agent__name"] or "(no agent)",
                "total": row["total"],
                "answered": row["answered"],
                "answer_rate": row["answered"] / row["total"] if row["total"] else None,
                "mean_first_response_ms": row["mean_first_response_ms"],
                "p95_first_response_ms": nearest_rank(agent_metrics, "first_response_ms", 95),
                "barge_ins": row["barge_ins"] or 0,
            }
        )
    return {
        "days": days,
        "from": start_day.isoformat(),
        "to": today.isoformat(),
        "per_day": per_day,
        "total": totals["total"],
        "answered": totals["answered"],
        "answer_rate": totals["answered"] / totals["total"] if totals["total"] else None,
        "mean_first_response_ms": latency["mean_first_response_ms"],
        "p95_first_response_ms": nearest_rank(metrics, "first_response_ms", 95),
        "mean_turn_latency_ms": latency["mean_turn_latency_ms"],
        "barge_ins": latency["barge_ins"] or 0,
        "tool_calls": latency["tool_calls"] or 0,
        "agents": agents,
    }
