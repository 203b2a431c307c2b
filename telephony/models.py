"""Numbers and extensions bound to agents, and what each call leaves behind."""

from __future__ import annotations

import re
import uuid

from django.core.exceptions import ValidationError
from django.db import models

E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
# SIP trunk user parts: what a carrier puts before the @ of the Request-URI. Digits with an optional
# leading +, or a name of letters, digits, dot, dash and underscore; at most 64 characters.
SIP_USER_RE = re.compile(r"^(\+?\d{2,32}|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")


class Carrier(models.TextChoices):
    TWILIO = "twilio", "Twilio"
    PLIVO = "plivo", "Plivo"
    SIP = "sip", "SIP trunk"
    ASTERISK = "asterisk", "Asterisk"
    BROWSER = "browser", "Browser"
    DEMO = "demo", "Demo"


class PhoneNumber(models.Model):
    """A number on a carrier (or a SIP trunk user part) whose inbound calls an agent answers."""

    CARRIERS = [(Carrier.TWILIO, "Twilio"), (Carrier.PLIVO, "Plivo"), (Carrier.SIP, "SIP trunk")]

    number = models.CharField(
        max_length=64,
        help_text="Twilio and Plivo: E.164, e.g. +14155550100. SIP trunk: the user part of the "
        "Request-URI, digits with an optional + or a name (letters, digits, . _ -).",
    )
    carrier = models.CharField(max_length=16, choices=CARRIERS)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="numbers")
    label = models.CharField(max_length=100, blank=True)
    twilio_media = models.CharField(
        "Twilio media",
        max_length=8,
        choices=[("stream", "Media Streams (WebSocket to this app)"), ("sip", "SIP to runsip (<Dial><Sip>)")],
        default="stream",
        help_text="Twilio numbers only: how the call's audio reaches the agent. SIP needs `manage.py runsip` "
        "and SIP_ADVERTISE_HOST (docs/sip.md).",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["carrier", "number"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "number"], name="unique_number_per_carrier")
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.get_carrier_display()})"

    def clean(self) -> None:
        number = (self.number or "").strip()
        self.number = number
        if self.carrier in (Carrier.TWILIO, Carrier.PLIVO) and not E164_RE.match(number):
            raise ValidationError(
                {
                    "number": f'"{number}" is not an E.164 number. Write it as + then the country code and '
                    "number, digits only, e.g. +14155550100."
                }
            )
        if self.carrier == Carrier.SIP and not SIP_USER_RE.match(number):
            raise ValidationError(
                {
                    "number": f'"{number}" is not a valid SIP user part. Use digits (optionally starting '
                    "with +) or a name of letters, digits, dots, dashes and underscores."
                }
            )


class Extension(models.Model):
    """An Asterisk dialplan context + extension routed to the Stasis app, answered by an agent."""

    class Media(models.TextChoices):
        DEFAULT = "", "Process default"
        RTP = "rtp", "RTP (u-law / A-law)"
        AUDIOSOCKET = "audiosocket", "AudioSocket"
        WEBSOCKET = "websocket", "WebSocket media"

    context = models.CharField(max_length=80, default="default")
    extension = models.CharField(max_length=80)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="extensions")
    media_transport = models.CharField(max_length=16, choices=Media.choices, default="", blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["context", "extension"]
        constraints = [
            models.UniqueConstraint(fields=["context", "extension"], name="unique_extension_per_context")
        ]

    def __str__(self) -> str:
        return f"{self.extension}@{self.context}"


class Call(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        RINGING = "ringing", "Ringing"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        REFUSED = "refused", "Refused"
        FAILED = "failed", "Failed"
        BUSY = "busy", "Busy"
        NO_ANSWER = "no_answer", "No answer"

    LIVE_STATUSES = (Status.RINGING, Status.IN_PROGRESS)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    carrier = models.CharField(max_length=16, choices=Carrier.choices)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.INBOUND)
    from_number = models.CharField(max_length=64, blank=True)
    to_number = models.CharField(max_length=64, blank=True)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    agent_snapshot = models.JSONField(
        default=dict, blank=True, help_text="The agent settings used for this call."
    )
    carrier_call_id = models.CharField(max_length=128, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RINGING)
    started_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=100, blank=True)
    tokens_prompt = models.PositiveIntegerField(default=0)
    tokens_response = models.PositiveIntegerField(default=0)
    tokens_total = models.PositiveIntegerField(default=0)
    # Single-use token that authorises the media WebSocket of this call (stored hashed).
    media_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    media_token_used = models.BooleanField(default=False)
    variables = models.JSONField(default=dict, blank=True, help_text="Call variables (campaign fields, ...).")
    summary = models.TextField(blank=True, help_text="Written after the call by a Gemini text model.")
    extracted = models.JSONField(default=dict, blank=True, help_text="The agent's extract fields, filled in.")

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["-started_at"], name="call_started_idx"),
            models.Index(fields=["status", "-started_at"], name="call_status_started_idx"),
            models.Index(fields=["agent", "-started_at"], name="call_agent_started_idx"),
            models.Index(fields=["carrier", "-started_at"], name="call_carrier_started_idx"),
            models.Index(fields=["from_number"], name="call_from_idx"),
            models.Index(fields=["to_number"], name="call_to_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_carrier_display()} {self.from_number} → {self.to_number}"

    @property
    def duration_seconds(self) -> float | None:
        if self.answered_at and self.ended_at:
            return (self.ended_at - self.answered_at).total_seconds()
        return None


class TranscriptSegment(models.Model):
    class Speaker(models.TextChoices):
        CALLER = "caller", "Caller"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    speaker = models.CharField(max_length=10, choices=Speaker.choices)
    text = models.TextField()
    start_ms = models.PositiveIntegerField(default=0, help_text="Offset from the call's answer.")
    end_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["call", "start_ms", "id"]


class Recording(models.Model):
    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="recording")
    file = models.FileField(upload_to="recordings/%Y/%m/%d/")
    duration_seconds = models.FloatField(default=0)
    sample_rate = models.PositiveIntegerField(default=8000)
    channels = models.PositiveSmallIntegerField(default=2, help_text="2: caller left, agent right.")
    created_at = models.DateTimeField(auto_now_add=True)


class CallMetrics(models.Model):
    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="metrics")
    first_response_ms = models.FloatField(
        null=True, blank=True, help_text="Caller stops → first agent audio."
    )
    mean_turn_latency_ms = models.FloatField(null=True, blank=True)
    p95_turn_latency_ms = models.FloatField(null=True, blank=True)
    turns = models.PositiveIntegerField(default=0)
    barge_ins = models.PositiveIntegerField(default=0)
    frames_in = models.PositiveIntegerField(default=0)
    frames_out = models.PositiveIntegerField(default=0)
    frames_dropped = models.PositiveIntegerField(default=0)
    tool_calls = models.PositiveIntegerField(default=0)
    reconnects = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "call metrics"


class ToolInvocation(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="tool_invocations")
    tool = models.ForeignKey("agents.Tool", null=True, blank=True, on_delete=models.SET_NULL)
    tool_name = models.CharField(max_length=64)
    gemini_call_id = models.CharField(max_length=128, blank=True)
    arguments = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["call", "created_at", "id"]


class ApiToken(models.Model):
    """A bearer token for the JSON API and /metrics, created and revoked by staff in the admin.

    Only a SHA-256 of the token is stored; the token itself is shown once, when it is created.
    """

    name = models.CharField(max_length=100, help_text="Who or what uses it, e.g. prometheus.")
    prefix = models.CharField(max_length=12, editable=False, help_text="The token's first characters.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# --- Outbound calls: campaigns and scheduled callbacks (telephony/outbound, telephony/scheduler) -------
OUTBOUND_CARRIERS = [(Carrier.TWILIO, "Twilio"), (Carrier.PLIVO, "Plivo"), (Carrier.ASTERISK, "Asterisk")]


class Campaign(models.Model):
    """A list of numbers an agent calls, at a set rate and concurrency, within calling hours.

    The scheduler (`telephony.scheduler.tick`, run by Celery beat or `housekeeping --loop`) dials
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
