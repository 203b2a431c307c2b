"""Admin for campaigns (CSV upload of numbers, Start / Pause actions, per-number status) and
scheduled callbacks; a link to the one-off outbound call form."""

from __future__ import annotations

import csv
import io

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from campaigns.models import Campaign, CampaignContact, ScheduledCallback
from telephony.outbound import number_problem

SUMMARY_ROWS = 10  # numbers shown on the campaign page; the rest are one click away, paged
SKIPPED_SHOWN = 20  # skipped rows named in the upload's message


class CampaignForm(forms.ModelForm):
    contacts_csv = forms.FileField(
        required=False,
        label="Add numbers (CSV)",
        help_text="A header row with a 'number' column; every other column becomes a template field "
        "for that number (e.g. name, order). Rows are added to the campaign's list.",
    )

    class Meta:
        model = Campaign
        fields = "__all__"

    def clean_contacts_csv(self) -> list[tuple[str, dict]]:
        """The rows to add; rows skipped (a number the carrier cannot dial, a repeat) go to `skipped`."""
        self.skipped: list[str] = []
        upload = self.cleaned_data.get("contacts_csv")
        if not upload:
            return []
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text.") from exc
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "number" not in [f.strip().lower() for f in reader.fieldnames]:
            raise forms.ValidationError("The first row must name the columns, one of them 'number'.")
        carrier = self.cleaned_data.get("carrier") or ""
        known = set(self.instance.contacts.values_list("number", flat=True)) if self.instance.pk else set()
        rows: list[tuple[str, dict]] = []
        for line, row in enumerate(reader, start=2):
            clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            number = clean.pop("number", "")
            problem = "no number" if not number else number_problem(carrier, number)
            if not problem and number in known:
                problem = f"{number} is already in the list"
            if problem:
                self.skipped.append(f"row {line}: {problem}")
                continue
            known.add(number)
            rows.append((number, {k: v for k, v in clean.items() if k}))
        return rows


@admin.register(CampaignContact)
class CampaignContactAdmin(admin.ModelAdmin):
    """Every number of every campaign, paged and filtered (the campaign page links here)."""

    list_display = ("number", "campaign", "status", "attempts", "next_attempt_at", "last_result", "call_link")
    list_filter = ("status", "campaign")
    search_fields = ("number",)
    list_select_related = ("campaign",)
    list_per_page = 50
    readonly_fields = ("status", "attempts", "next_attempt_at", "last_result", "call_link")
    fields = ("campaign", "number", "fields", *readonly_fields)

    @admin.display(description="Last call")
    def call_link(self, obj: CampaignContact) -> str:
        if not obj.last_call_id:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("dashboard:call", args=[obj.last_call_id]), "open")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "agent", "carrier", "status", "progress", "created_at")
    list_filter = ("status", "carrier", "agent")
    search_fields = ("name",)
    actions = ("start_campaigns", "pause_campaigns")
    readonly_fields = ("finished_at", "place_call", "contacts_summary")
    fieldsets = (
        (
            None,
            {"fields": ("name", "agent", "carrier", "from_number", "status", "finished_at", "place_call")},
        ),
        ("What the agent says", {"fields": ("greeting", "voicemail_message", "detect_machines")}),
        (
            "Pace, retries and calling hours",
            {
                "fields": (
                    "calls_per_minute",
                    "max_simultaneous",
                    "max_attempts",
                    "retry_delay_minutes",
                    ("calling_hours_start", "calling_hours_end"),
                )
            },
        ),
        ("Numbers", {"fields": ("contacts_summary", "contacts_csv")}),
    )

    @admin.display(description="Done / total")
    def progress(self, obj: Campaign) -> str:
        total = obj.contacts.count()
        open_ = obj.contacts.filter(status__in=["pending", "calling"]).count()
        return f"{total - open_} / {total}"

    @admin.display(description="One-off call")
    def place_call(self, obj: Campaign) -> str:
        url = reverse("outbound-call-form")
        if obj.pk:
            url += f"?agent={obj.agent_id}"
        return format_html('<a href="{}">Place a single outbound call</a>', url)

    @admin.display(description="Numbers")
    def contacts_summary(self, obj: Campaign) -> str:
        """The first few numbers and a link to all of them, paged (no inline boxes per number)."""
        if not obj.pk:
            return "-"
        first = list(obj.contacts.order_by("id")[:SUMMARY_ROWS])
        total = obj.contacts.count()
        url = reverse("admin:campaigns_campaigncontact_changelist") + f"?campaign__id__exact={obj.pk}"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((c.number, c.get_status_display(), c.attempts) for c in first),
        )  # fmt: skip
        return format_html(
            '<table><tr><th>number</th><th>status</th><th>attempts</th></tr>{}</table><a href="{}">All {} '
            "number(s), paged and filterable</a>",
            rows,
            url,
            total,
        )

    def save_model(self, request, obj: Campaign, form, change) -> None:
        super().save_model(request, obj, form, change)
        rows = form.cleaned_data.get("contacts_csv") or []
        CampaignContact.objects.bulk_create(
            CampaignContact(campaign=obj, number=number, fields=fields) for number, fields in rows
        )
        if rows or getattr(form, "skipped", None):
            messages.info(request, f"{len(rows)} number(s) added.")
        skipped = getattr(form, "skipped", [])
        if skipped:
            shown = "; ".join(skipped[:SKIPPED_SHOWN]) + ("; ..." if len(skipped) > SKIPPED_SHOWN else "")
            messages.warning(request, f"{len(skipped)} row(s) skipped: {shown}")

    @admin.action(description="Start (or resume) the selected campaigns")
    def start_campaigns(self, request, queryset) -> None:
        count = queryset.exclude(status=Campaign.Status.DONE).update(status=Campaign.Status.RUNNING)
        self.message_user(request, f"{count} campaign(s) running; the scheduler dials within seconds.")

    @admin.action(description="Pause the selected campaigns")
    def pause_campaigns(self, request, queryset) -> None:
        count = queryset.filter(status=Campaign.Status.RUNNING).update(status=Campaign.Status.PAUSED)
        self.message_user(request, f"{count} campaign(s) paused; calls in progress finish.")


@admin.register(ScheduledCallback)
class ScheduledCallbackAdmin(admin.ModelAdmin):
    list_display = ("number", "agent", "carrier", "due_at", "status", "origin_call", "call")
    list_filter = ("status", "carrier", "agent")
    search_fields = ("number", "note")
    readonly_fields = ("origin_call", "call", "error", "created_at")
    actions = ("cancel_callbacks",)

    @admin.action(description="Cancel the selected callbacks (pending ones only)")
    def cancel_callbacks(self, request, queryset) -> None:
        count = queryset.filter(status=ScheduledCallback.Status.PENDING).update(
            status=ScheduledCallback.Status.CANCELLED
        )
        self.message_user(request, f"{count} callback(s) cancelled at {timezone.localtime():%H:%M}.")
