"""JSON endpoints (/api/calls, /api/calls/<id>, /status) and the Prometheus /metrics."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from calls import spool
from calls.dashboard import queries
from calls.dashboard.forms import CallFilterForm
from calls.models import Call, CallMetrics

from .auth import token_required


@token_required
def call_list(request):
    """Calls newest first, with the dashboard's filters; follow `next` for older calls."""
    filters = CallFilterForm(request.GET or None).filters()
    try:
        size = max(1, min(int(request.GET.get("limit", settings.DASHBOARD_PAGE_SIZE)), 500))
    except ValueError:
        size = settings.DASHBOARD_PAGE_SIZE
    page = queries.page_of(
        queries.filtered_calls(filters).select_related("agent"),
        before=request.GET.get("before"),
        after=request.GET.get("after"),
        size=size,
    )
    params = request.GET.copy()
    params.pop("after", None)
    next_url = None
    if page.older:
        params["before"] = page.older
        next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
    return JsonResponse(
        {"calls": [queries.call_summary(call) for call in page.calls], "next": next_url, "cursor": page.older}
    )


def _metrics_dict(metrics: CallMetrics | None) -> dict | None:
    if metrics is None:
        return None
    fields = [f.name for f in CallMetrics._meta.fields if f.name not in ("id", "call")]
    return {name: getattr(metrics, name) for name in fields}


@token_required
def call_detail(request, call_id):
    call = get_object_or_404(Call.objects.select_related("agent", "metrics", "recording"), pk=call_id)
    recording = getattr(call, "recording", None)
    data = queries.call_summary(call)
    data["summary"], data["extracted"] = call.summary, call.extracted
    data.update(
        {
            "carrier_call_id": call.carrier_call_id,
            "tokens": {
                "prompt": call.tokens_prompt,
                "response": call.tokens_response,
                "total": call.tokens_total,
                "input": {"AUDIO": call.tokens_input_audio, "TEXT": call.tokens_input_text},
                "output": {"AUDIO": call.tokens_output_audio, "TEXT": call.tokens_output_text},
            },
            # A string (exact decimal), or null when a price is unknown.
            "cost": None if call.cost is None else str(call.cost),
            "cost_basis": call.cost_basis,
            # The agent's last warm transfer to a person, or null when it made none.
            "handoff": {
                "to": call.handoff_to,
                "outcome": call.handoff_outcome,
                "seconds": call.handoff_seconds,
            }
            if call.handoff_outcome
            else None,
            "transcript": [
                {"speaker": s.speaker, "text": s.text, "start_ms": s.start_ms, "end_ms": s.end_ms}
                for s in call.segments.all()
            ],
            "metrics": _metrics_dict(getattr(call, "metrics", None)),
            "tool_invocations": [
                {
                    "tool_name": t.tool_name,
                    "gemini_call_id": t.gemini_call_id,
                    "arguments": t.arguments,
                    "result": t.result,
                    "error": t.error,
                    "latency_ms": t.latency_ms,
                }
                for t in call.tool_invocations.all()
            ],
            "recording": None
            if recording is None
            else {
                "url": request.build_absolute_uri(reverse("dashboard:recording", args=[call.pk])),
                "duration_seconds": recording.duration_seconds,
                "sample_rate": recording.sample_rate,
                "channels": recording.channels,
            },
        }
    )
    return JsonResponse(data)


def _status_data() -> dict:
    today = timezone.localdate()
    by_status = dict(
        Call.objects.filter(status__in=Call.LIVE_STATUSES)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {
        "status": "ok",
        "mode": "embedded" if settings.EMBEDDED_MODE else "production",
        "calls_ringing": by_status.get(Call.Status.RINGING, 0),
        "calls_in_progress": by_status.get(Call.Status.IN_PROGRESS, 0),
        "calls_today": Call.objects.filter(started_at__gte=queries._day_start(today)).count(),
        "spooled_jobs": len(spool.pending()),
        "time": timezone.now().isoformat(),
    }


@token_required
def status(request):
    return JsonResponse(_status_data())


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@token_required
def metrics(request):
    """Prometheus text exposition (format 0.0.4), computed from the database on each scrape."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")

    totals = Call.objects.values_list("carrier", "status").annotate(n=Count("pk")).order_by()
    family(
        "contactcenter_calls",
        "gauge",
        "Calls in the database, by carrier and status.",
        [({"carrier": c, "status": s}, n) for c, s, n in totals],
    )
    live = _status_data()
    family(
        "contactcenter_calls_live",
        "gauge",
        "Calls ringing or in progress now.",
        [
            ({"status": "ringing"}, live["calls_ringing"]),
            ({"status": "in_progress"}, live["calls_in_progress"]),
        ],
    )
    family(
        "contactcenter_spooled_jobs",
        "gauge",
        "Celery jobs waiting on disk for the broker.",
        [({}, live["spooled_jobs"])],
    )
    day = queries.overview(1)
    latency = []
    for key, quantile in (("mean_first_response_ms", None), ("p95_first_response_ms", "0.95")):
        if day[key] is not None:
            latency.append(
                ({"stat": "mean"} if quantile is None else {"stat": "p95"}, round(day[key] / 1000, 4))
            )
    family(
        "contactcenter_first_response_seconds",
        "gauge",
        "Caller stops to first agent audio, calls started today.",
        latency,
    )
    family(
        "contactcenter_barge_ins_today",
        "gauge",
        "Caller barge-ins in calls started today.",
        [({}, day["barge_ins"])],
    )
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
