from django.contrib import admin

from .models import Call, CallMetrics, Extension, PhoneNumber, Recording, ToolInvocation, TranscriptSegment


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "carrier", "agent", "label", "is_active")
    list_filter = ("carrier", "is_active", "agent")
    search_fields = ("number", "label", "agent__name")
    list_select_related = ("agent",)


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    list_display = ("extension", "context", "agent", "media_transport", "is_active")
    list_filter = ("context", "media_transport", "is_active", "agent")
    search_fields = ("extension", "context", "agent__name")
    list_select_related = ("agent",)


class TranscriptInline(admin.TabularInline):
    model = TranscriptSegment
    extra = 0
    fields = ("start_ms", "speaker", "text")
    readonly_fields = fields
    can_delete = False


class ToolInvocationInline(admin.TabularInline):
    model = ToolInvocation
    extra = 0
    fields = ("tool_name", "arguments", "result", "error", "latency_ms")
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
    inlines = [TranscriptInline, ToolInvocationInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ("call", "duration_seconds", "sample_rate", "created_at")
    readonly_fields = ("call", "file", "duration_seconds", "sample_rate", "channels")


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

from telephony.api import admin as _api_admin  # noqa: E402,F401  (registers ApiToken)
