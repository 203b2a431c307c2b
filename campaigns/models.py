"""Outbound work: campaigns and their contacts, and the callbacks agents promise.

The scheduler (`campaigns.scheduler.tick`, run by Celery beat or `housekeeping --loop`) dials
them through `telephony.outbound.place_call`.
"""

from __future__ import annotations

from django.db import models

from agents.models import Carrier
from calls.models import Call

OUTBOUND_CARRIERS = [(Carrier.TWILIO, "Twilio"), (Carrier.PLIVO, "Plivo"), (Carrier.ASTERISK, "Asterisk")]


class Campaign(models.Model):
    """A list of numbers an agent calls, at a set rate and concurrency, within calling hours.

    The scheduler (`campaigns.scheduler.tick`, run by Celery beat or `housekeeping --loop`) dials
    pending contacts of running campaigns and retries busy / unanswered ones after a delay.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        DONE = "done", "Done"

    name = models.CharField(max_length=100)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="campaigns")
    carrier = models.CharField(max_length=16, choices=OUTBOUND_CARRIERS, default=Carrier.TWILIO)
    from_number = models.CharField(
        max_length=64,
        blank=True,
        help_text="Caller ID. Empty: the agent's first number on this carrier.",
    )
    greeting = models.TextField(
        blank=True,
        help_text="What the agent says first on these calls (instead of its own greeting). "
        "May use the contacts' fields, e.g. 'Hello {name}, this is Example Corp about your order {order}.'",
    )
    voicemail_message = models.TextField(
        blank=True,
        help_text="Left when an answering machine picks up (Twilio, Plivo). Empty: hang up on machines.",
    )
    detect_machines = models.BooleanField(
        default=True, help_text="Ask the carrier for answering-machine detection (Twilio, Plivo)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    max_attempts = models.PositiveSmallIntegerField(
        default=3, help_text="Per number, busy/no answer included."
    )
    retry_delay_minutes = models.PositiveIntegerField(default=30)
    calls_per_minute = models.PositiveIntegerField(default=10)
    max_simultaneous = models.PositiveIntegerField(default=5)
    calling_hours_start = models.TimeField(null=True, blank=True, help_text="Server time; empty: any time.")
    calling_hours_end = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class CampaignContact(models.Model):
    """One number of a campaign, with its template fields and where its dialling stands."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CALLING = "calling", "Calling"
        COMPLETED = "completed", "Completed"
        BUSY = "busy", "Busy"
        NO_ANSWER = "no_answer", "No answer"
        FAILED = "failed", "Failed"
        VOICEMAIL = "voicemail", "Voicemail left"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contacts")
    number = models.CharField(max_length=64)
    fields = models.JSONField(default=dict, blank=True, help_text="Template variables for this number.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_result = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "id"]
        indexes = [models.Index(fields=["campaign", "status", "next_attempt_at"], name="contact_due_idx")]

    def __str__(self) -> str:
        return f"{self.number} ({self.get_status_display()})"


class ScheduledCallback(models.Model):
    """A call the agent promised (`schedule_callback`): placed by the scheduler when due."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CALLING = "calling", "Calling"
        DONE = "done", "Placed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=64)
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="callbacks")
    carrier = models.CharField(max_length=16, choices=OUTBOUND_CARRIERS)
    from_number = models.CharField(max_length=64, blank=True)
    due_at = models.DateTimeField()
    note = models.TextField(blank=True)
    context = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the first call left (summary, variables): the callback's variables.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    origin_call = models.ForeignKey(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="callbacks_promised"
    )
    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [models.Index(fields=["status", "due_at"], name="callback_due_idx")]

    def __str__(self) -> str:
        return f"{self.number} at {self.due_at:%Y-%m-%d %H:%M}"
