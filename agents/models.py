"""Voice agents, the tools they may call, and the numbers and extensions that reach them.

An edit applies to the next call: the engine works from a snapshot (`agents.snapshot`) taken when
a call starts, never from these rows.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from . import gemini_catalog as catalog
from . import hours as opening_hours
from .media import media_choices
from .schema import SchemaError, validate_gemini_schema

FUNCTION_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# A BCP 47 language tag as agents use them: "en", "en-US", "zh-Hant-TW", "es-419".
LANGUAGE_TAG_RE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"


DEFAULT_AI_DISCLOSURE = "You are speaking with an automated assistant."


class Tool(models.Model):
    """A function the model may call during a call: a built-in action or an HTTP webhook."""

    class Kind(models.TextChoices):
        END_CALL = "end_call", "End the call"
        TRANSFER = "transfer_call", "Transfer to a number or SIP URI"
        WARM_TRANSFER = "warm_transfer", "Warm transfer to a person (brief them first)"
        SEND_SMS = "send_sms", "Send an SMS"
        SCHEDULE_CALLBACK = "schedule_callback", "Schedule a callback"
        WEBHOOK = "webhook", "HTTP webhook"

    name = models.CharField(
        max_length=64,
        unique=True,
        help_text="The function name the model sees, e.g. lookup_order. Letters, digits and underscores.",
    )
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.WEBHOOK)
    description = models.TextField(
        help_text="Tell the model when to call this tool and what it does. The model reads this."
    )
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text='Arguments as a Gemini schema, e.g. {"type": "OBJECT", "properties": {"order_id": '
        '{"type": "STRING"}}, "required": ["order_id"]}. Leave empty for no arguments '
        "(built-in tools get their standard arguments).",
    )
    url = models.URLField(blank=True, help_text="Webhook tools: the URL that receives a signed POST.")
    secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="Webhook tools: shared secret for the X-Signature HMAC-SHA256 header.",
    )
    timeout_seconds = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(30)],
        help_text="Webhook tools: give up after this many seconds and tell the model it failed.",
    )
    scheduling = models.CharField(
        "when the caller hears the result",
        max_length=16,
        blank=True,
        choices=[
            ("", "Default for this kind of tool"),
            ("INTERRUPT", "Interrupt: the agent stops and tells the result at once"),
            ("WHEN_IDLE", "When idle: once the agent has finished what it is saying"),
            ("SILENT", "Silent: the agent takes note and says nothing about it"),
        ],
        default="",
        help_text="On models whose tool calls do not block (Gemini 3.8) the agent keeps talking while a "
        "tool runs; this says how it uses the result. Default: transfers interrupt, everything else "
        "waits until the agent is idle.",
    )
    secure_entry = models.BooleanField(
        "secure keypad entry",
        default=False,
        help_text="Webhook tools: when the agent calls this tool, the caller keys digits (a card number, "
        "a PIN) ending with #; until then Gemini and the recording hear silence and keypresses are not "
        "told to Gemini or written in the transcript. The digits go only to this webhook, as `digits`; "
        "the agent gets the webhook's answer.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if not FUNCTION_NAME_RE.match(self.name or ""):
            errors["name"] = (
                "Use 1 to 64 letters, digits or underscores, starting with a letter or underscore "
                "(Gemini refuses other function names)."
            )
        if self.secure_entry and self.kind != self.Kind.WEBHOOK:
            errors["secure_entry"] = "Only webhook tools take keyed digits: the digits go to the tool's URL."
        if self.parameters:
            try:
                validate_gemini_schema(self.parameters)
            except SchemaError as exc:
                errors["parameters"] = str(exc)
        if self.kind == self.Kind.WEBHOOK and not self.url:
            errors["url"] = "A webhook tool needs the URL to POST to."
        if errors:
            raise ValidationError(errors)


class Agent(models.Model):
    """A voice agent: who answers, how it sounds, and what it may do."""

    name = models.CharField(max_length=100, unique=True)
    system_prompt = models.TextField(
        help_text="Instructions for the model: role, tone, what to do and not do. "
        "May use {caller_number}, {dialled_number} and campaign fields."
    )
    greeting = models.TextField(
        blank=True,
        help_text="What the agent says first when the call connects. Empty: the caller speaks first.",
    )
    consent_announcement = models.TextField(
        blank=True,
        help_text="Spoken before the greeting when calls are recorded, e.g. 'This call may be recorded.'",
    )
    redact_transcripts = models.BooleanField(
        default=True,
        help_text="Replace card numbers and US social security numbers in stored transcripts with "
        "[card number] / [national id]. Recordings are not redacted.",
    )
    require_passing_tests = models.BooleanField(
        "Publish only a tested draft",
        default=False,
        help_text="Refuse to publish a draft that has not passed this agent's active test cases since its "
        "last edit (manage.py testagent AGENT --version draft). Off: publishing such a draft only warns.",
    )
    ai_disclosure = models.TextField(
        "AI disclosure",
        blank=True,
        help_text="Spoken first on every call, before the consent line and the greeting, and not cut off "
        "when the caller talks over it (EU AI Act Art. 50 and US rules expect callers to be told). "
        "New agents start with a standard line; empty: no disclosure.",
    )
    # No choices=: the catalogue (agents/gemini_catalog.py) lists the models, so adding one is no migration.
    model = models.CharField(
        max_length=100,
        default=catalog.DEFAULT_MODEL,
        help_text="The Gemini Live model. What each model accepts is in the model catalogue.",
    )
    voice = models.CharField(
        max_length=40, choices=[(v, v) for v in catalog.VOICES], default=catalog.DEFAULT_VOICE
    )
    language = models.CharField(
        max_length=20,
        blank=True,
        default="en-US",
        validators=[
            RegexValidator(
                LANGUAGE_TAG_RE,
                "Write a language tag such as en-US, de-DE or fr (language, then an optional region).",
            )
        ],
        help_text="Language the agent should speak (e.g. en-US, de-DE). A hint in the prompt: native-audio "
        "models pick the language themselves.",
    )
    temperature = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    affective_dialog = models.BooleanField(
        default=False,
        help_text="Let the model adapt its tone to the caller's emotion (2.5 models only; removed on 3.8).",
    )
    proactive_audio = models.BooleanField(
        null=True,
        blank=True,
        default=None,
        help_text="Let the model stay silent when speech is not meant for it. Unknown = the model's "
        "default (always on for 3.8; 3.1 has none).",
    )
    thinking_budget = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-1), MaxValueValidator(catalog.THINKING_BUDGET_MAX)],
        help_text="Thinking tokens per turn (2.5 models; 0 = off, -1 = dynamic). Empty: the model's default.",
    )
    thinking_level = models.CharField(
        max_length=16,
        blank=True,
        choices=catalog.THINKING_LEVELS,
        help_text="Thinking level (3.1 Flash Live). Empty: the model's default.",
    )
    start_sensitivity = models.CharField(
        "start-of-speech sensitivity",
        max_length=40,
        choices=catalog.START_SENSITIVITY,
        default="START_SENSITIVITY_HIGH",
    )
    end_sensitivity = models.CharField(
        "end-of-speech sensitivity",
        max_length=40,
        choices=catalog.END_SENSITIVITY,
        default="END_SENSITIVITY_HIGH",
    )
    prefix_padding_ms = models.PositiveIntegerField(
        default=20,
        validators=[MaxValueValidator(2000)],
        help_text="Speech needed before the start of a turn is confirmed (ms).",
    )
    silence_duration_ms = models.PositiveIntegerField(
        default=500,
        validators=[MinValueValidator(100), MaxValueValidator(5000)],
        help_text="Silence that ends the caller's turn (ms). 500 to 800 is usual.",
    )
    barge_in = models.BooleanField(default=True, help_text="Let the caller interrupt the agent.")
    max_call_seconds = models.PositiveIntegerField(
        "max call duration (s)",
        default=600,
        validators=[MinValueValidator(10), MaxValueValidator(4 * 3600)],
        help_text="The agent says goodbye and hangs up at this limit.",
    )
    max_concurrent_calls = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Further callers hear a polite refusal."
    )
    record_calls = models.BooleanField(default=True, help_text="Keep a recording of both sides.")
    tools = models.ManyToManyField(Tool, blank=True, related_name="agents")
    config_webhook_url = models.URLField(
        "per-call configuration webhook",
        blank=True,
        help_text="Optional. POSTed the caller and dialled number at call start; may answer with JSON "
        "overriding system_prompt, greeting, voice or language for that call.",
    )
    config_webhook_secret = models.CharField(
        max_length=200, blank=True, help_text="Signs the configuration webhook request (X-Signature)."
    )
    extract_fields = models.CharField(
        "fields to extract after the call",
        max_length=500,
        blank=True,
        help_text="Comma-separated, e.g. name, reason for calling, outcome. After each call a Gemini text "
        "model fills them in from the transcript, next to a short summary.",
    )
    post_call_webhook_url = models.URLField(
        blank=True,
        help_text="Optional. After each call, the summary, the extracted fields and the transcript are "
        "POSTed here as JSON.",
    )
    post_call_webhook_secret = models.CharField(
        max_length=200, blank=True, help_text="Signs the post-call webhook request (X-Signature)."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive agents answer no calls.")
    published_version = models.ForeignKey(
        "AgentVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The configuration calls use. None: calls use the settings as edited (never published).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Refuse settings the chosen model does not accept, so a saved agent never makes a refused setup."""
        super().clean()
        errors = catalog.unsupported(
            self.model,
            affective_dialog=self.affective_dialog,
            proactive_audio=self.proactive_audio,
            thinking_budget=self.thinking_budget,
            thinking_level=self.thinking_level,
        )
        if errors:
            raise ValidationError(errors)

    def extract_field_names(self) -> list[str]:
        return extract_field_names(self.extract_fields)


def extract_field_names(text: str) -> list[str]:
    """Extract fields ("name, reason for calling") as JSON-safe keys: ["name", "reason_for_calling"]."""
    names = [" ".join(part.split()).lower().replace(" ", "_") for part in text.split(",")]
    return [n for n in names if n]


# --- Where calls reach an agent: carrier numbers and Asterisk extensions (routing.py) -----------------
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
# SIP trunk user parts: what a carrier puts before the @ of the Request-URI. Digits with an optional
# leading +, or a name of letters, digits, dot, dash and underscore; at most 64 characters.
SIP_USER_RE = re.compile(r"^(\+?\d{2,32}|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")


# Where a warm transfer may dial: E.164, a SIP URI, or an Asterisk endpoint (technology/resource).
TRANSFER_DESTINATION_RE = re.compile(r"^(\+[1-9]\d{6,14}|sips?:\S+@?\S*|[A-Za-z][A-Za-z0-9]*/\S+)$")


class TransferTarget(models.Model):
    """A person or team the agent may hand a caller to after briefing them (the `warm_transfer` tool)."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="transfer_targets")
    name = models.CharField(
        max_length=80,
        help_text="What the agent calls this target, e.g. Sales. The model picks a target by this name.",
    )
    destination = models.CharField(
        max_length=200,
        help_text="Who is dialled: an E.164 number (+14155550123), a SIP URI (sip:sales@pbx.example.com) "
        "or an Asterisk endpoint (PJSIP/200).",
    )
    hours = models.CharField(
        "opening hours",
        max_length=200,
        blank=True,
        help_text=f"When this target takes calls, in the server's time zone (TIME_ZONE). {opening_hours.FORMAT_HELP}",
    )
    position = models.PositiveIntegerField(default=0, help_text="Order in which targets are listed to the model.")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "name"], name="transfertarget_agent_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.destination})"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if not TRANSFER_DESTINATION_RE.match(self.destination or ""):
            errors["destination"] = (
                "Use an E.164 number (+14155550123), a SIP URI (sip:sales@pbx.example.com) or an "
                "Asterisk endpoint (PJSIP/200)."
            )
        try:
            opening_hours.parse(self.hours)
        except opening_hours.HoursError as exc:
            errors["hours"] = str(exc)
        if errors:
            raise ValidationError(errors)


class Carrier(models.TextChoices):
    TWILIO = "twilio", "Twilio"
    PLIVO = "plivo", "Plivo"
    SIP = "sip", "SIP trunk"
    ASTERISK = "asterisk", "Asterisk"
    BROWSER = "browser", "Browser"
    DEMO = "demo", "Demo"
    TEST = "test", "Agent test"  # `manage.py testagent`: simulated callers, routed to the agent by id


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
    carrier_link = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text='What "Connect to Twilio/Plivo" changed on the carrier (before and after), so that '
        '"Disconnect" can put it back. Empty when the number was not connected from the admin.',
    )

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

    context = models.CharField(max_length=80, default="default")
    extension = models.CharField(max_length=80)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="extensions")
    media_transport = models.CharField(
        max_length=16,
        choices=media_choices(),
        default="",
        blank=True,
        help_text="The media leg and audio format for this extension; the same values as "
        "ASTERISK_MEDIA_TRANSPORT.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["context", "extension"]
        constraints = [
            models.UniqueConstraint(fields=["context", "extension"], name="unique_extension_per_context")
        ]

    def __str__(self) -> str:
        return f"{self.extension}@{self.context}"


class AgentVersion(models.Model):
    """A published configuration of an agent: what calls ran on, to compare and to roll back to.

    `config` is `AgentConfig.to_json()` of the agent as it was published (prompt, greeting, voice,
    model, turn-taking, tools, limits); secrets are not copied, calls take them from the agent and
    its tools as they are now.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField()
    note = models.CharField(max_length=200, blank=True, help_text="What changed, for the version list.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["agent", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "number"], name="one_number_per_agent_version")
        ]

    def __str__(self) -> str:
        return f"{self.agent.name} v{self.number}"


class AgentTestCase(models.Model):
    """One simulated caller and what must hold when an agent answers it (`manage.py testagent`)."""

    class Ending(models.TextChoices):
        ANY = "", "Anything"
        AGENT_ENDS = "agent_ends", "The agent ends the call"
        TRANSFER = "transfer", "The agent transfers the call"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="test_cases")
    name = models.CharField(max_length=100)
    caller_lines = models.TextField(
        blank=True,
        help_text="What the caller says, one line per turn, spoken with the offline voice after the agent "
        "finishes each turn. With a persona: the caller's talking points, in order.",
    )
    persona = models.TextField(
        blank=True,
        help_text="Optional: who the caller is and what they want (\"Sam, whose parcel is late, wants a "
        "refund\"). The caller is then played by a second Gemini Live session (TEST_CALLER_MODEL) that "
        "talks with the agent; offline, the emulator's caller says the talking points one per turn.",
    )
    must_say = models.TextField(
        blank=True, help_text="Phrases the agent must say (one per line; case and punctuation ignored)."
    )
    must_not_say = models.TextField(blank=True, help_text="Phrases the agent must never say (one per line).")
    tool_called = models.CharField(max_length=64, blank=True, help_text="A tool the agent must call.")
    tool_arguments = models.JSONField(
        default=dict, blank=True, help_text='Arguments that call must have, e.g. {"order_id": "A12345"}.'
    )
    ending = models.CharField(max_length=20, choices=Ending.choices, blank=True, default=Ending.ANY)
    max_turns = models.PositiveIntegerField(null=True, blank=True, help_text="At most this many agent turns.")
    max_first_response_ms = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The agent's first answer to the caller within this many milliseconds.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["agent", "name"]
        constraints = [models.UniqueConstraint(fields=["agent", "name"], name="one_test_case_name_per_agent")]

    def __str__(self) -> str:
        return self.name

    def lines(self, field: str) -> list[str]:
        return [line.strip() for line in getattr(self, field).splitlines() if line.strip()]

    def clean(self) -> None:
        if not self.caller_lines.strip() and not self.persona.strip():
            raise ValidationError({"caller_lines": "Write what the caller says, or give the caller a persona."})


class AgentTestRun(models.Model):
    """One run of an agent's test cases, with each case's verdict and the call it made."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="test_runs")
    version = models.CharField(max_length=20, help_text='"draft" or the published version, e.g. "v3".')
    started_at = models.DateTimeField(auto_now_add=True)
    passed = models.BooleanField(default=False)
    results = models.JSONField(default=list, help_text="[{case, passed, failures, call_id}]")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.agent.name} {self.version} {'passed' if self.passed else 'failed'}"

    @property
    def summary(self) -> str:
        failed = sum(1 for r in self.results if not r.get("passed"))
        return f"{len(self.results) - failed} of {len(self.results)} passed"
