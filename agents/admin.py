from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from . import gemini_catalog as catalog
from . import versions, wiring
from .models import (
    DEFAULT_AI_DISCLOSURE,
    Agent,
    AgentTestCase,
    AgentTestRun,
    AgentVersion,
    Extension,
    PhoneNumber,
    Tool,
    TransferTarget,
)
from .wiring import public_url_problem

# What each carrier's console needs for a number ({label: URL}), filled in by the carrier packages
# (`telephony.apps`): the agents app shows them without importing a transport.
CARRIER_WEBHOOK_URLS: dict[str, Callable[[], dict[str, str]]] = {}


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "scheduling", "is_active", "url", "timeout_seconds")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "description", "url")
    fieldsets = (
        (None, {"fields": ("name", "kind", "description", "scheduling", "is_active")}),
        ("Arguments", {"fields": ("parameters",)}),
        ("HTTP webhook", {"fields": ("url", "secret", "timeout_seconds", "secure_entry"), "classes": ("collapse",)}),
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


class TransferTargetInline(admin.TabularInline):
    """Who the agent may hand a caller to with a warm transfer (the `warm_transfer` tool)."""

    model = TransferTarget
    extra = 0
    fields = ("name", "destination", "hours", "position")
    verbose_name = "warm transfer target"
    verbose_name_plural = (
        "Warm transfer targets (the agent briefs the person, who accepts with 1 or 'yes'; tick a "
        "'warm_transfer' tool under Tools so the agent can use them)"
    )


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    inlines = (TransferTargetInline,)
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
    readonly_fields = ("test_call", "version_state")
    fieldsets = (
        (None, {"fields": ("name", "is_active", "test_call", "version_state")}),
        (
            "What the agent says",
            {"fields": ("system_prompt", "ai_disclosure", "greeting", "consent_announcement", "language")},
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
        (
            "Limits and recording",
            {"fields": ("max_call_seconds", "max_concurrent_calls", "record_calls", "redact_transcripts")},
        ),
        ("Tools", {"fields": ("tools",)}),
        (
            "After the call",
            {"fields": ("extract_fields", "post_call_webhook_url", "post_call_webhook_secret")},
        ),
        ("Publishing", {"fields": ("require_passing_tests",)}),
        (
            "Per-call configuration",
            {"fields": ("config_webhook_url", "config_webhook_secret"), "classes": ("collapse",)},
        ),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_numbers=Count("numbers", distinct=True))

    def get_changeform_initial_data(self, request):
        """New agents tell callers they are automated unless someone removes the line on purpose."""
        return {"ai_disclosure": DEFAULT_AI_DISCLOSURE, **super().get_changeform_initial_data(request)}

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:agent_id>/versions/", view(self.versions_view), name="agents_agent_versions"),
            path("<int:agent_id>/publish/", view(self.publish_view), name="agents_agent_publish"),
            path(
                "<int:agent_id>/versions/<int:number>/use/",
                view(self.use_version_view),
                name="agents_agent_use_version",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Version calls use")
    def version_state(self, obj: Agent) -> str:
        """Draft or published: what callers hear is the published version, not these fields."""
        if not obj.pk:
            return "Save the agent first; until it is published, calls use it as saved."
        link = reverse("admin:agents_agent_versions", args=[obj.pk])
        version = obj.published_version
        if version is None:
            state = "Never published: calls use the settings below as saved."
        elif versions.draft_differs(obj):
            state = f"v{version.number} — the settings below are a draft that differs: publish it to use it."
        else:
            state = f"v{version.number} — the settings below are what calls use."
        return format_html(
            '{} <a href="{}" class="versions">Versions, compare, publish, roll back</a>', state, link
        )

    def _agent(self, request, agent_id: int) -> Agent:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(Agent.objects.select_related("published_version"), pk=agent_id)

    def versions_view(self, request, agent_id: int):
        agent = self._agent(request, agent_id)
        rows = list(agent.versions.all())
        draft = versions.draft_config(agent)
        current = agent.published_version
        entries = []
        for index, version in enumerate(rows):
            older = rows[index + 1] if index + 1 < len(rows) else None
            entries.append(
                {
                    "version": version,
                    "in_use": current is not None and version.pk == current.pk,
                    "changes": versions.diff(
                        older.config, version.config, f"v{older.number}", f"v{version.number}"
                    )
                    if older
                    else [],
                }
            )
        against = current.config if current else {}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Versions of {agent.name}",
            "agent": agent,
            "entries": entries,
            "draft_differs": versions.draft_differs(agent),
            "draft_changes": versions.diff(
                against, draft, f"v{current.number}" if current else "nothing", "draft"
            ),
        }
        return TemplateResponse(request, "admin/agents/agent_versions.html", context)

    def publish_view(self, request, agent_id: int):
        agent = self._agent(request, agent_id)
        if request.method != "POST":
            return redirect("admin:agents_agent_versions", agent.pk)
        if not versions.draft_differs(agent):
            messages.info(request, "Nothing to publish: the draft is the version calls use.")
        elif agent.require_passing_tests and (problem := versions.draft_test_problem(agent)):
            messages.error(
                request,
                f"Not published: {agent.name} publishes only a tested draft, and {problem}. Run "
                f"manage.py testagent {agent.pk} --version draft, fix what fails, then publish again.",
            )
        else:
            untested = versions.untested_warning(agent)
            version = versions.publish(agent, request.user.get_username(), request.POST.get("note", ""))
            messages.success(request, f"Published v{version.number}: new calls to {agent.name} use it.")
            if untested:
                messages.warning(request, untested)
        return redirect("admin:agents_agent_versions", agent.pk)

    def use_version_view(self, request, agent_id: int, number: int):
        agent = self._agent(request, agent_id)
        version = get_object_or_404(AgentVersion, agent=agent, number=number)
        if request.method == "POST":
            versions.roll_back(version)
            messages.success(
                request,
                f"New calls to {agent.name} use v{version.number} again; calls in progress keep theirs.",
            )
        return redirect("admin:agents_agent_versions", agent.pk)

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
    readonly_fields = ("webhook_urls", "carrier_connection")
    change_form_template = "admin/agents/phonenumber/change_form.html"

    @admin.display(description="Webhook URLs for the carrier console")
    def webhook_urls(self, obj: PhoneNumber) -> str:
        """Twilio/Plivo: the exact URLs to paste into the carrier's console (from PUBLIC_BASE_URL)."""
        from django.conf import settings

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

    @admin.display(description="Connected on the carrier")
    def carrier_connection(self, obj: PhoneNumber) -> str:
        """What "Connect to ..." changed on the carrier's number, before and after, so it can be checked."""
        connector = wiring.connector_for(obj) if obj.pk else None
        link = obj.carrier_link if obj.pk else {}
        if not link:
            if connector is None:
                return "-"
            return f"Not connected from here. \u201cConnect to {connector.name}\u201d (above) points the number at this app."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td><code>{}</code></td><td>\u2192</td><td><code>{}</code></td></tr>",
            (
                (c["field"], c["before"] or "(empty)", c["after"] or "(empty)")
                for c in link.get("changes", [])
            ),
        )
        name = connector.name if connector else link.get("carrier", "")
        return format_html(
            '<p>Connected to {} at {} by {} ({}). \u201cDisconnect\u201d puts the "before" values back.</p>'
            '<table id="carrier-changes"><thead><tr><th>Field</th><th>Before</th><th></th><th>After</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            name,
            _when(link.get("connected_at", "")),
            link.get("connected_by", "") or "?",
            link.get("resource", ""),
            rows,
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/connect/", view(self.connect_view), name="agents_phonenumber_connect"),
            path("<int:pk>/disconnect/", view(self.disconnect_view), name="agents_phonenumber_disconnect"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        number = self.get_object(request, object_id)
        may_wire = number is not None and self.has_change_permission(request, number)
        extra = {"carrier_connector": wiring.connector_for(number) if may_wire else None}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _number(self, request, pk: int) -> PhoneNumber:
        number = get_object_or_404(PhoneNumber, pk=pk)
        if not self.has_change_permission(request, number):
            raise PermissionDenied
        return number

    def _wiring_page(self, request, number: PhoneNumber, action: str, error: str = "") -> TemplateResponse:
        """The connect/disconnect page: what it does, and why it did not (a refusal, as a form error)."""
        connector = wiring.connector_for(number)
        name = connector.name if connector else number.get_carrier_display()
        verb = "Connect to" if action == "connect" else "Disconnect from"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{verb} {name}: {number.number}",
            "number": number,
            "action": action,
            "button": f"{verb} {name}",
            "carrier_name": name,
            "error": error,
        }
        return TemplateResponse(
            request, "admin/agents/phonenumber/carrier_wiring.html", context, status=400 if error else 200
        )

    def connect_view(self, request, pk: int):
        """POST: point the carrier's number at this app (GET shows the page with the button)."""
        number = self._number(request, pk)
        if request.method != "POST":
            return self._wiring_page(request, number, "connect")
        try:
            link = wiring.connect(number, by=request.user.get_username())
        except wiring.WiringError as exc:
            return self._wiring_page(request, number, "connect", exc.message)
        messages.success(
            request,
            f"{number.number} now sends its calls to this app ({len(link['changes'])} fields changed).",
        )
        return redirect("admin:agents_phonenumber_change", number.pk)

    def disconnect_view(self, request, pk: int):
        """POST: put back what connect changed on the carrier."""
        number = self._number(request, pk)
        if request.method != "POST":
            return self._wiring_page(request, number, "disconnect")
        try:
            wiring.disconnect(number)
        except wiring.WiringError as exc:
            return self._wiring_page(request, number, "disconnect", exc.message)
        messages.success(request, f"{number.number} is back to what it was before it was connected.")
        return redirect("admin:agents_phonenumber_change", number.pk)


def _when(iso: str) -> str:
    """A stored ISO time as the rest of the admin shows times: configured zone, 24-hour, zone named."""
    from datetime import datetime

    from django.utils import dateformat, timezone

    try:
        return dateformat.format(timezone.localtime(datetime.fromisoformat(iso)), "Y-m-d H:i:s T")
    except (TypeError, ValueError):
        return iso


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    list_display = ("extension", "context", "agent", "media_transport", "is_active")
    list_filter = ("context", "media_transport", "is_active", "agent")
    search_fields = ("extension", "context", "agent__name")
    list_select_related = ("agent",)


@admin.register(AgentTestCase)
class AgentTestCaseAdmin(admin.ModelAdmin):
    """Simulated callers per agent; run them with `manage.py testagent AGENT [--version draft]`."""

    list_display = ("name", "agent", "tool_called", "ending", "is_active")
    list_filter = ("agent", "is_active")
    search_fields = ("name", "caller_lines", "must_say")
    fieldsets = (
        (None, {"fields": ("agent", "name", "is_active", "caller_lines", "persona")}),
        (
            "What must hold",
            {
                "fields": (
                    "must_say",
                    "must_not_say",
                    "tool_called",
                    "tool_arguments",
                    "ending",
                    "max_turns",
                    "max_first_response_ms",
                ),
                "description": "Run with <code>manage.py testagent AGENT</code> (add <code>--version draft</code>"
                " to test unpublished edits); it exits 1 when a case fails, for your own CI.",
            },
        ),
    )


@admin.register(AgentTestRun)
class AgentTestRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "agent", "version", "passed", "summary")
    list_filter = ("agent", "passed")
    readonly_fields = ("agent", "version", "started_at", "passed", "verdicts")
    exclude = ("results",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a run is a record: shown, not edited

    @admin.display(description="Cases")
    def verdicts(self, obj: AgentTestRun) -> str:
        """Each case's verdict, what failed, and a link to the call it made (transcript, recording)."""
        rows = format_html_join(
            "",
            '<li class="{}"><strong>{}</strong> {} — <a href="{}">call</a>{}</li>',
            (
                (
                    "pass" if r["passed"] else "fail",
                    "PASS" if r["passed"] else "FAIL",
                    r["case"],
                    reverse("dashboard:call", args=[r["call_id"]]),
                    format_html_join("", "<br>· {}", ((f,) for f in r["failures"])),
                )
                for r in obj.results
            ),
        )
        return format_html("<ul>{}</ul>", rows)
