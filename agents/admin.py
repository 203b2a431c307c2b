from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from . import gemini_catalog as catalog
from .models import Agent, Extension, PhoneNumber, Tool

# What each carrier's console needs for a number ({label: URL}), filled in by the carrier packages
# (`telephony.apps`): the agents app shows them without importing a transport.
CARRIER_WEBHOOK_URLS: dict[str, Callable[[], dict[str, str]]] = {}


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "is_active", "url", "timeout_seconds")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "description", "url")
    fieldsets = (
        (None, {"fields": ("name", "kind", "description", "is_active")}),
        ("Arguments", {"fields": ("parameters",)}),
        ("HTTP webhook", {"fields": ("url", "secret", "timeout_seconds"), "classes": ("collapse",)}),
    )


class AgentForm(forms.ModelForm):
    """The agent form: models offered from the catalogue (the model field has no choices of its own)."""

    model = forms.ChoiceField(
        choices=catalog.LIVE_MODELS,
        initial=catalog.DEFAULT_MODEL,
        help_text=Agent._meta.get_field("model").help_text,
    )

    class Meta:
        model = Agent
        fields = "__all__"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.model if self.instance.pk else None
        if current and catalog.get(current) is None:  # a model since dropped from the catalogue
            self.fields["model"].choices = [
                (current, f"{current} (not in the catalogue)"),
                *catalog.LIVE_MODELS,
            ]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = (
        "name",
        "model",
        "voice",
        "language",
        "barge_in",
        "record_calls",
        "bound_numbers",
        "is_active",
    )
    list_filter = ("is_active", "model", "voice", "record_calls", "barge_in")
    search_fields = ("name", "system_prompt", "greeting")
    filter_horizontal = ("tools",)
    readonly_fields = ("test_call",)
    fieldsets = (
        (None, {"fields": ("name", "is_active", "test_call")}),
        (
            "What the agent says",
            {"fields": ("system_prompt", "greeting", "consent_announcement", "language")},
        ),
        ("Model and voice", {"fields": ("model", "voice", "temperature")}),
        (
            "Model features",
            {
                "fields": ("affective_dialog", "proactive_audio", "thinking_budget", "thinking_level"),
                "description": "Each model accepts different features; a setting the chosen model "
                "refuses is reported when you save.",
            },
        ),
        (
            "Turn taking (voice activity detection)",
            {
                "fields": (
                    "start_sensitivity",
                    "end_sensitivity",
                    "prefix_padding_ms",
                    "silence_duration_ms",
                    "barge_in",
                ),
                "description": "How quickly the agent decides the caller started or stopped speaking.",
            },
        ),
        ("Limits and recording", {"fields": ("max_call_seconds", "max_concurrent_calls", "record_calls")}),
        ("Tools", {"fields": ("tools",)}),
        (
            "After the call",
            {"fields": ("extract_fields", "post_call_webhook_url", "post_call_webhook_secret")},
        ),
        (
            "Per-call configuration",
            {"fields": ("config_webhook_url", "config_webhook_secret"), "classes": ("collapse",)},
        ),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_numbers=Count("numbers", distinct=True))

    @admin.display(description="Numbers", ordering="_numbers")
    def bound_numbers(self, obj: Agent) -> int:
        return obj._numbers

    @admin.display(description="Test call")
    def test_call(self, obj: Agent) -> str:
        """Talk to the agent from the browser (microphone), before any number is bound to it."""
        if not obj.pk:
            return "Save the agent first."
        return format_html(
            '<a href="{}" class="test-call">Test call</a>', reverse("browser:call", args=[obj.pk])
        )


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

        webhook_urls = CARRIER_WEBHOOK_URLS.get(getattr(obj, "carrier", ""))
        if webhook_urls is None:
            return "-"
        rows = format_html_join("", "<div>{}: <code>{}</code></div>", webhook_urls().items())
        if not settings.PUBLIC_BASE_URL:
            return format_html("<p>Set PUBLIC_BASE_URL to this server's public https address.</p>{}", rows)
        problem = public_url_problem(settings.PUBLIC_BASE_URL)
        if problem:
            return format_html(
                '<p class="errornote">{} Set PUBLIC_BASE_URL to this server\'s public https address (or a '
                "tunnel's); the local emulators (docs/emulators.md) work as it is.</p>{}",
                problem,
                rows,
            )
        return rows


def public_url_problem(base_url: str) -> str:
    """Why a carrier could not call `base_url` back ("" when it can): loopback, private, plain http."""
    from ipaddress import ip_address
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        address = ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or (address is not None and address.is_loopback):
        return f"A carrier cannot reach {host}: it is this machine's loopback address."
    if address is not None and (address.is_private or address.is_link_local):
        return f"A carrier cannot reach {host}: it is a private network address."
    if parts.scheme != "https":
        return "Twilio and Plivo call webhooks over https and stream over wss; this address is plain http."
    return ""


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    list_display = ("extension", "context", "agent", "media_transport", "is_active")
    list_filter = ("context", "media_transport", "is_active", "agent")
    search_fields = ("extension", "context", "agent__name")
    list_select_related = ("agent",)
