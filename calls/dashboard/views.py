"""The staff dashboard: call history, call detail, recordings, overview, live calls, CSV export."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from django.conf import settings
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from calls.models import Call

from . import queries
from .access import staff_required
from .forms import CallFilterForm
from .ranges import ranged_file_response


def _filters(request) -> tuple[CallFilterForm, dict]:
    form = CallFilterForm(request.GET or None)
    return form, form.filters()


@staff_required
def home(request):
    return redirect("dashboard:calls")


@staff_required
def call_list(request):
    form, filters = _filters(request)
    qs = queries.filtered_calls(filters).select_related("agent", "metrics")
    page = queries.page_of(
        qs,
        before=request.GET.get("before"),
        after=request.GET.get("after"),
        size=settings.DASHBOARD_PAGE_SIZE,
    )
    count, capped = queries.capped_count(queries.filtered_calls(filters))
    params = request.GET.copy()
    for key in ("before", "after"):
        params.pop(key, None)
    return render(
        request,
        "dashboard/call_list.html",
        {
            "form": form,
            "page": page,
            "count": count,
            "count_capped": capped,
            "query": params.urlencode(),
            "nav": "calls",
        },
    )


@staff_required
def call_detail(request, call_id):
    call = get_object_or_404(Call.objects.select_related("agent", "metrics", "recording"), pk=call_id)
    return render(
        request,
        "dashboard/call_detail.html",
        {
            "call": call,
            # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
            "metrics": getattr(call, "metrics", None),
            "recording": getattr(call, "recording", None),
            "segments": list(call.segments.all()),
            "tools": list(call.tool_invocations.all()),
            "nav": "calls",
        },
    )


@staff_required
def recording_file(request, call_id):
    """The call's stereo WAV (caller left, agent right), with Range support for seeking."""
    call = get_object_or_404(Call.objects.select_related("recording"), pk=call_id)
    recording = getattr(call, "recording", None)
    if recording is None or not recording.file:
        raise Http404("This call has no recording.")
    if not recording.file.storage.exists(recording.file.name):
        raise Http404("The recording file is gone (retention or storage).")
    return ranged_file_response(request, recording.file.storage, recording.file.name, "audio/wav")


@staff_required
def overview(request):
    try:
        days = max(1, min(int(request.GET.get("days", 14)), 366))
    except ValueError:
        days = 14
    stats = queries.overview(days)
    return render(request, "dashboard/overview.html", {"stats": stats, "nav": "overview"})


@staff_required
def live(request):
    return render(request, "dashboard/live.html", {"calls": queries.live_calls(), "nav": "live"})


# A cell a spreadsheet would run as a formula. Phone numbers (+14155550100) are left as they are.
FORMULA_RE = re.compile(r"^[=@\t\r]|^[+-](?![\d\s()-]*$)")
CSV_FIELDS = [
    ("id", "id"),
    ("started_at", "started_at"),
    ("answered_at", "answered_at"),
    ("ended_at", "ended_at"),
    ("direction", "direction"),
    ("carrier", "carrier"),
    ("from_number", "from_number"),
    ("to_number", "to_number"),
    ("agent", "agent__name"),
    ("status", "status"),
    ("end_reason", "end_reason"),
    ("tokens_total", "tokens_total"),
    ("tokens_input_audio", "tokens_input_audio"),
    ("tokens_input_text", "tokens_input_text"),
    ("tokens_output_audio", "tokens_output_audio"),
    ("tokens_output_text", "tokens_output_text"),
    ("cost", "cost"),  # empty when a price is unknown
    ("cost_basis", "cost_basis"),
    ("first_response_ms", "metrics__first_response_ms"),
    ("mean_turn_latency_ms", "metrics__mean_turn_latency_ms"),
    ("turns", "metrics__turns"),
    ("barge_ins", "metrics__barge_ins"),
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    return "'" + text if FORMULA_RE.match(text) else text


def csv_rows(filters: dict) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in CSV_FIELDS])
    values = (
        queries.filtered_calls(filters)
        .order_by("-started_at", "-pk")
        .values_list(*[lookup for _, lookup in CSV_FIELDS])
    )
    for row in values.iterator(chunk_size=2000):
        yield writer.writerow([_cell(v) for v in row])


@staff_required
def calls_csv(request):
    """The call history (same filters as the page) as CSV, streamed so 100,000 rows fit in memory."""
    _, filters = _filters(request)
    response = StreamingHttpResponse(csv_rows(filters), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="calls-{stamp}.csv"'
    return response
