from django.contrib import admin

from .models import Call, CallMetrics, Extension, PhoneNumber, Recording, ToolInvocation, TranscriptSegment


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "carrier", "agent", "label", "is_active")
    list_filter = ("carrier", "is_active", "agent")
    search_fields = ("number", "label", "agent__name")
    list_select_related = ("agent",)
    readonly_fields = ("webhook_urls",)

    @admin.display(description="Webhook URLs for the carrier console")
    def webhook_urls(self, obj: PhoneNumber) -> str:
        """Twilio/Plivo: the exact URLs to paste into the carrier's console (from PUBLIC_BASE_URL)."""
        from django.conf import settings
        from django.utils.html import format_html, format_html_join

        carrier = getattr(obj, "carrier", "")
        if carrier == "twilio":
            from .twilio.views import webhook_urls
        elif carrier == "plivo":
            from .plivo.views import webhook_urls
        else:
            return "-"
        rows = format_html_join("", "<div>{}: <code>{}</code></div>", webhook_urls().items())
        if settings.PUBLIC_BASE_URL:
            return rows
        return format_html("<p>Set PUBLIC_BASE_URL to this server's public https address.</p>{}", rows)


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


from telephony.api import admin as _api_admin  # noqa: E402,F401  (registers ApiToken)
from telephony.outbound import admin as _outbound_admin  # noqa: E402,F401  (campaigns, callbacks)
