"""What a call leaves behind (the Call row, transcript, recording, metrics, tool invocations) and the
API tokens that read it."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from agents.models import Carrier


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

    class Handoff(models.TextChoices):
        """How the agent's last warm transfer to a person went (`engine/transfer.py`)."""

        ACCEPTED = "accepted", "Accepted (the caller was handed to the person)"
        DECLINED = "declined", "Declined by the person"
        NO_ANSWER = "no-answer", "No answer"
        BUSY = "busy", "Busy"
        FAILED = "failed", "Failed (the dial did not go through)"
        CLOSED = "closed", "Closed (outside the target's hours)"
        ABANDONED = "abandoned", "Abandoned (the caller hung up on hold)"

    LIVE_STATUSES = (Status.RINGING, Status.IN_PROGRESS)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    carrier = models.CharField(max_length=16, choices=Carrier.choices)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.INBOUND)
    from_number = models.CharField(max_length=64, blank=True)
    to_number = models.CharField(max_length=64, blank=True)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    agent_version = models.ForeignKey(
        "agents.AgentVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
        help_text="The published agent version the call ran on (none: an agent never published).",
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
    # Per modality, from Gemini's usageMetadata details (engine/usage.py); the cost from GEMINI_PRICES.
    tokens_input_audio = models.PositiveIntegerField(default=0, db_default=0)
    tokens_input_text = models.PositiveIntegerField(default=0, db_default=0)
    tokens_output_audio = models.PositiveIntegerField(default=0, db_default=0)
    tokens_output_text = models.PositiveIntegerField(default=0, db_default=0)
    cost = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="What Gemini charged for the call, from the price table (GEMINI_PRICES) at the call's "
        "end; empty when a price is unknown.",
    )
    cost_basis = models.CharField(
        max_length=300,
        blank=True,
        default="",
        db_default="",  # rows written by raw SQL (or an older release during a deploy) stay valid
        help_text="The prices the cost used (model, date, source), or why none.",
    )
    # Single-use token that authorises the media WebSocket of this call (stored hashed).
    media_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    media_token_used = models.BooleanField(default=False)
    variables = models.JSONField(default=dict, blank=True, help_text="Call variables (campaign fields, ...).")
    # The process holding the call's media (`CallProcess.name`): when its heartbeat stops, the call is
    # closed as "process ended" (calls/recovery.py).
    process = models.CharField(max_length=100, blank=True, db_index=True)
    summary = models.TextField(blank=True, help_text="Written after the call by a Gemini text model.")
    # db_default: rows written by raw SQL (the benchmarks' bulk insert, an older release mid-deploy) stay valid.
    handoff_to = models.CharField(
        max_length=80,
        blank=True,
        default="",
        db_default="",
        help_text="The transfer target of the agent's last warm transfer.",
    )
    handoff_outcome = models.CharField(
        max_length=16, blank=True, default="", db_default="", choices=Handoff.choices
    )
    handoff_seconds = models.FloatField(
        null=True, blank=True, help_text="From the agent's warm transfer request to its outcome."
    )
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

    @classmethod
    def record_refused(
        cls, carrier: str, from_number: str, to_number: str, carrier_call_id: str, reason: str
    ) -> Call:
        """A call that reached us but no agent (unbound number or extension): stored as refused, so a
        supervisor sees it in the history. A replayed webhook finds the same row."""
        if carrier_call_id:
            existing = cls.objects.filter(carrier=carrier, carrier_call_id=carrier_call_id).first()
            if existing is not None:
                return existing
        return cls.objects.create(
            carrier=carrier,
            from_number=from_number[:64],
            to_number=to_number[:64],
            carrier_call_id=carrier_call_id[:128],
            status=cls.Status.REFUSED,
            end_reason=f"no agent ({reason})"[:100],
            ended_at=timezone.now(),
        )

    @property
    def problem(self) -> str:
        """What went wrong on a call that otherwise looks fine ("" for none): the history flags it."""
        if self.status != self.Status.COMPLETED:
            return ""
        try:
            metrics = self.metrics
        except CallMetrics.DoesNotExist:  # still being stored
            return ""
        if metrics.frames_out == 0:
            return "agent never spoke"
        if metrics.frames_in == 0:
            return "no caller audio"
        return ""

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
        SUPERVISOR = "supervisor", "Supervisor"  # a whisper to the agent, never heard by the caller
        HUMAN = "human", "Supervisor (on the line)"  # a supervisor who took the call over, speaking

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    speaker = models.CharField(max_length=10, choices=Speaker.choices)
    text = models.TextField()
    start_ms = models.PositiveIntegerField(default=0, help_text="Offset from the call's answer.")
    end_ms = models.PositiveIntegerField(default=0)
    # The segment's number in the call (in the order segments closed): stored during the call and again
    # at its end, so the pair (call, seq) makes every store idempotent.
    seq = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["call", "start_ms", "id"]
        constraints = [models.UniqueConstraint(fields=["call", "seq"], name="unique_segment_seq_per_call")]


class Supervision(models.Model):
    """A staff member listening in on a live call, or taking it over: who, when, until when."""

    class Action(models.TextChoices):
        LISTEN = "listen", "Listened in"
        TAKE_OVER = "take_over", "Took over"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="supervisions")
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=10, choices=Action.choices)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["call", "started_at", "id"]

    def __str__(self) -> str:
        return f"{self.username} {self.get_action_display().lower()} at {self.started_at:%H:%M:%S}"


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
    final = models.BooleanField(
        default=True, help_text="Stored at the end of the call (not a snapshot taken during it)."
    )

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
    cancelled = models.BooleanField(
        default=False, help_text="Gemini cancelled the call (toolCallCancellation) before it finished."
    )
    retryable = models.BooleanField(
        default=False, help_text="It failed in a way that may pass if tried again (a timeout, a 5xx)."
    )
    repeats = models.PositiveIntegerField(
        default=0,
        help_text="Identical calls in the same model turn (Gemini 3.8 repeats calls) answered from this "
        "result instead of running again.",
    )
    seq = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Order in the call: stored during the call and again at its end, once.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["call", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["call", "seq"], name="toolinvocation_unique_call_seq")]


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


class CallProcess(models.Model):
    """A process that holds calls (daphne, runasterisk, runsip, democall), alive while it heartbeats.

    The engine writes the row when the process takes its first call and refreshes `heartbeat_at` every
    PROCESS_HEARTBEAT_SECONDS; `recovery.sweep` closes the calls of a process that stopped.
    """

    name = models.CharField(max_length=100, unique=True, help_text="host:pid:start time")
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "call processes"

    def __str__(self) -> str:
        return self.name
