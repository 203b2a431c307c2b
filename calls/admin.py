"""Admin for what calls leave behind: read-only calls with their transcript, tool calls and supervisors,
recordings, metrics; API tokens (api/admin.py)."""

from django.contrib import admin

from .api import admin as _api_admin  # noqa: F401  (registers ApiToken)
from .models import Call, CallMetrics, Recording, Supervision, ToolInvocation, TranscriptSegment


class TranscriptInline(admin.TabularInline):
    model = TranscriptSegment
    extra = 0
    fields = ("start_ms", "speaker", "text")
    readonly_fields = fields
    can_delete = False


class ToolInvocationInline(admin.TabularInline):
    model = ToolInvocation
    extra = 0
    fields = ("tool_name", "arguments", "result", "error", "retryable", "cancelled", "repeats", "latency_ms")
    readonly_fields = fields
    can_delete = False


class SupervisionInline(admin.TabularInline):
    """Who listened in or took the call over (logged by the call page's supervise socket)."""

    model = Supervision
    extra = 0
    fields = ("username", "action", "started_at", "ended_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "carrier",
        "direction",
        "from_number",
        "to_number",
        "agent",
        "status",
        "end_reason",
    )
    list_filter = ("status", "carrier", "direction", "agent")
    search_fields = ("from_number", "to_number", "carrier_call_id")
    date_hierarchy = "started_at"
    list_select_related = ("agent",)
    readonly_fields = [f.name for f in Call._meta.fields if f.name != "media_token_hash"]
    exclude = ("media_token_hash",)
    inlines = [TranscriptInline, ToolInvocationInline, SupervisionInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ("call", "duration_seconds", "sample_rate", "created_at")
    readonly_fields = ("call", "file", "duration_seconds", "sample_rate", "channels")

    def has_add_permission(self, request) -> bool:
        return False  # recordings come from calls


@admin.register(CallMetrics)
class CallMetricsAdmin(admin.ModelAdmin):
    list_display = (
        "call",
        "first_response_ms",
        "p95_turn_latency_ms",
        "barge_ins",
        "frames_out",
        "frames_dropped",
    )
