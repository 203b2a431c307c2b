"""Queries behind the dashboard and the API: filtering, keyset pages, overview statistics.

Pages are keyset-paginated on (started_at, id), newest first, so page N costs the same as page 1
at any table size (the `call_*_started_idx` indexes serve each filter); counts are capped.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from calls import search
from calls.display import when
from calls.models import Call, CallMetrics, TranscriptSegment

COUNT_CAP = 10_000


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


_COMPLETED = Q(status=Call.Status.COMPLETED)
# The history's "Outcome" filter: each a condition on the call; "problems" is any of them.
OUTCOMES: dict[str, tuple[str, Q]] = {
    "failed": ("Failed", Q(status=Call.Status.FAILED) & ~Q(end_reason="process ended")),
    "refused": ("Refused (no agent, or the agent at its cap)", Q(status=Call.Status.REFUSED)),
    "process_ended": ("Process ended (crash)", Q(status=Call.Status.FAILED, end_reason="process ended")),
    "silent_agent": ("Agent never spoke", _COMPLETED & Q(metrics__frames_out=0)),
    "no_caller_audio": ("No caller audio", _COMPLETED & Q(metrics__frames_in=0, metrics__frames_out__gt=0)),
}


def problems() -> Q:
    """Every call that went wrong, whatever the way."""
    query = Q()
    for _, condition in OUTCOMES.values():
        query |= condition
    return query


def filtered_calls(filters: dict) -> QuerySet[Call]:
    """Calls matching the history filters (see CallFilterForm)."""
    qs = Call.objects.all()
    outcome = filters.get("outcome")
    if outcome == "problems":
        qs = qs.filter(problems())
    elif outcome in OUTCOMES:
        qs = qs.filter(OUTCOMES[outcome][1])
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
        qs = qs.filter(search.numbers(term) | search.said(term))
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


LIVE_LINES = 3  # transcript lines shown under each call on /live/ (the call's page has them all)


def live_calls(limit: int = 200) -> list[dict]:
    """Calls ringing or in progress right now, in any process, as JSON-ready dicts, each with its last
    transcript lines (as saved during the call, every TRANSCRIPT_SAVE_SECONDS)."""
    rows = list(
        Call.objects.filter(status__in=Call.LIVE_STATUSES)
        .select_related("agent")
        .order_by("-started_at")[:limit]
    )
    lines = last_lines([call.pk for call in rows], LIVE_LINES)
    return [dict(call_summary(call), lines=lines.get(call.pk, [])) for call in rows]


def last_lines(call_ids: list, per_call: int) -> dict:
    """The last `per_call` transcript segments of each call, oldest first, in one query (a window over
    the (call, seq) index, so a long call costs no more than a short one)."""
    if not call_ids:
        return {}
    newest_first = Window(RowNumber(), partition_by=[F("call_id")], order_by=F("seq").desc())
    rows = (
        TranscriptSegment.objects.filter(call_id__in=call_ids)
        .annotate(n=newest_first)
        .filter(n__lte=per_call)
        .order_by("call_id", "seq")
    )
    result: dict = {}
    for segment in rows:
        result.setdefault(segment.call_id, []).append(
            {
                "seq": segment.seq,
                "speaker": segment.speaker,
                "label": segment.get_speaker_display(),
                "text": segment.text,
            }
        )
    return result


def call_summary(call: Call) -> dict:
    """A call as JSON: codes for programs, and the labels and time every page shows, for people."""
    return {
        "id": str(call.pk),
        "carrier": call.carrier,
        "carrier_label": call.get_carrier_display(),
        "direction": call.direction,
        "direction_label": call.get_direction_display(),
        "status_label": call.get_status_display(),
        "started_display": when(call.started_at),
        "from_number": call.from_number,
        "to_number": call.to_number,
        "agent": call.agent.name if call.agent_id and call.agent else None,
        "status": call.status,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration_seconds": call.duration_seconds,
        "end_reason": call.end_reason,
        "cost": None if call.cost is None else str(call.cost),  # null: a price is unknown
    }


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _cost_aggregates(suffix: str, window: Q) -> dict:
    """Sum of costs and the count of calls that used tokens but have no cost (a price unknown)."""
    unpriced = window & Q(cost__isnull=True, tokens_total__gt=0)
    return {
        f"cost_sum{suffix}": Sum("cost", filter=window or None),
        f"unpriced{suffix}": Count("pk", filter=unpriced),
    }


def _cost(row: dict, suffix: str) -> dict:
    """{"cost": sum or None, "unpriced": n}: no sum when a call in it has no price (never a partial sum
    shown as the total)."""
    unpriced = row[f"unpriced{suffix}"]
    return {"cost": None if unpriced else (row[f"cost_sum{suffix}"] or Decimal(0)), "unpriced": unpriced}


def overview(days: int, today: date | None = None) -> dict:
    """Calls per day, answer rate, first-response latency, barge-ins: overall and per agent.

    Three queries whatever the period: day counts as one conditional aggregate (one pass over the
    period's rows, no per-row date function), per-agent counts, and the period's metrics rows.
    """
    today = today or timezone.localdate()
    start_day = today - timedelta(days=days - 1)
    calls = Call.objects.filter(started_at__gte=_day_start(start_day))
    day_list = [start_day + timedelta(days=offset) for offset in range(days)]
    aggregates = {"total": Count("pk"), "answered": Count("answered_at"), **_cost_aggregates("", Q())}
    for i, day in enumerate(day_list):
        window = Q(started_at__gte=_day_start(day), started_at__lt=_day_start(day + timedelta(days=1)))
        aggregates[f"t{i}"] = Count("pk", filter=window)
        aggregates[f"a{i}"] = Count("answered_at", filter=window)
        aggregates.update(_cost_aggregates(str(i), window))
    counts = calls.aggregate(**aggregates)
    per_day = [
        {
            "day": day.isoformat(),
            "total": counts[f"t{i}"],
            "answered": counts[f"a{i}"],
            **_cost(counts, str(i)),
        }
        for i, day in enumerate(day_list)
    ]
    metric_rows = list(
        CallMetrics.objects.filter(call__started_at__gte=_day_start(start_day)).values_list(
            "call__agent_id", "first_response_ms", "mean_turn_latency_ms", "barge_ins", "tool_calls"
        )
    )
    first: dict[int | None, list[float]] = {}
    barge_ins: dict[int | None, int] = {}
    for agent_id, first_ms, _, barges, _ in metric_rows:
        barge_ins[agent_id] = barge_ins.get(agent_id, 0) + barges
        if first_ms is not None:
            first.setdefault(agent_id, []).append(first_ms)
    all_first = [value for values in first.values() for value in values]
    agents = []
    for row in (
        calls.values("agent_id", "agent__name")
        .annotate(total=Count("pk"), answered=Count("answered_at"), **_cost_aggregates("", Q()))
        .order_by("-total")
    ):
        values = first.get(row["agent_id"], [])
        agents.append(
            {
                "agent": row["agent__name"] or "(no agent)",
                "total": row["total"],
                "answered": row["answered"],
                "answer_rate": row["answered"] / row["total"] if row["total"] else None,
                "mean_first_response_ms": _mean(values),
                "p95_first_response_ms": percentile(values, 95),
                "barge_ins": barge_ins.get(row["agent_id"], 0),
                **_cost(row, ""),
            }
        )
    return {
        "days": days,
        "from": start_day.isoformat(),
        "to": today.isoformat(),
        "per_day": per_day,
        "total": counts["total"],
        "answered": counts["answered"],
        "answer_rate": counts["answered"] / counts["total"] if counts["total"] else None,
        "mean_first_response_ms": _mean(all_first),
        "p95_first_response_ms": percentile(all_first, 95),
        "mean_turn_latency_ms": _mean([r[2] for r in metric_rows if r[2] is not None]),
        "barge_ins": sum(r[3] for r in metric_rows),
        "tool_calls": sum(r[4] for r in metric_rows),
        **_cost(counts, ""),
        "agents": agents,
    }
