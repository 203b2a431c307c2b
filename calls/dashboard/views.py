"""The staff dashboard: call history, call detail, recordings, overview, live calls, CSV export."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import datetime

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents import gemini_catalog as catalog
from calls import supervision
from calls.display import when
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
            "search": filters.get("q", ""),
            "nav": "calls",
        },
    )


@staff_required
def call_detail(request, call_id):
    call = get_object_or_404(Call.objects.select_related("agent", "agent_version", "metrics", "recording"), pk=call_id)
    segments = list(call.segments.all())
    return render(
        request,
        "dashboard/call_detail.html",
        {
            "call": call,
            # A missing reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
            "metrics": getattr(call, "metrics", None),
            "recording": getattr(call, "recording", None),
            "segments": segments,
            "last_seq": max((s.seq for s in segments), default=-1),  # the live page asks for what follows
            "tools": list(call.tool_invocations.all()),
            "supervisions": list(call.supervisions.all()),
            "search": request.GET.get("q", "")[:100],  # marked in the transcript (from the history's search)
            "nav": "calls",
        },
    )


@staff_required
def call_transcript(request, call_id):
    """The call's transcript after segment `after` (its seq), for the live call page to append:
    segments are saved during the call every TRANSCRIPT_SAVE_SECONDS by whichever process holds it."""
    call = get_object_or_404(Call.objects.only("status"), pk=call_id)
    try:
        after = int(request.GET.get("after", -1))
    except ValueError:
        after = -1
    segments = [
        {
            "seq": s.seq,
            "speaker": s.speaker,
            "label": s.get_speaker_display(),
            "text": s.text,
            "start_ms": s.start_ms,
        }
        for s in call.segments.filter(seq__gt=after).order_by("seq")
    ]
    return JsonResponse({"status": call.status, "segments": segments})


@staff_required
@require_POST
def whisper(request, call_id):
    """A supervisor's guidance to the agent of a live call (CSRF-checked form on the call page)."""
    call = get_object_or_404(Call.objects.select_related("agent"), pk=call_id)
    text = " ".join(request.POST.get("text", "").split())
    model = catalog.get(call.agent.model) if call.agent else None
    if call.status != Call.Status.IN_PROGRESS:
        messages.error(request, "This call is not in progress any more: nothing was sent.")
    elif not text:
        messages.error(request, "Type what the agent should do, then send it.")
    elif len(text) > supervision.MAX_WHISPER_CHARS:
        messages.error(
            request, f"Keep it under {supervision.MAX_WHISPER_CHARS} characters: nothing was sent."
        )
    elif model is None or not model.context_update:
        messages.error(
            request,
            f"{call.agent.model if call.agent else 'This call'} cannot take guidance during a call: "
            "choose a Gemini 3.x Live model for the agent.",
        )
    else:
        async_to_sync(supervision.whisper)(call.pk, text, request.user.get_username())
        messages.success(
            request,
            "Sent to the agent: it follows it from its next turn. It shows in the transcript as a"
            " supervisor line once the agent has it.",
        )
    return redirect("dashboard:call", call.pk)


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
    if isinstance(value, datetime):
        return when(value)  # the same zone and format as every page (calls/display.py)
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
