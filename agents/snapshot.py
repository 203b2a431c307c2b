"""`AgentConfig`: the plain snapshot of an Agent the engine works from.

Taken when a call starts and stored on the `Call`, so an admin edit applies to the next call and
the engine never touches the ORM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .schema import to_gemini_schema

# Arguments of the built-in tools when the admin leaves `parameters` empty.
BUILTIN_PARAMETERS: dict[str, dict[str, Any]] = {
    "end_call": {
        "type": "OBJECT",
        "properties": {"reason": {"type": "STRING", "description": "Why the call ends."}},
    },
    "transfer_call": {
        "type": "OBJECT",
        "properties": {
            "destination": {"type": "STRING", "description": "Phone number (E.164) or SIP URI."},
            "reason": {"type": "STRING"},
        },
        "required": ["destination"],
    },
    "warm_transfer": {
        "type": "OBJECT",
        "properties": {
            # The enum of the agent's target names is added per call (ToolConfig.declaration).
            "target": {"type": "STRING", "description": "Who to transfer to: one of the listed targets."},
            "reason": {"type": "STRING", "description": "Why the caller wants a person, in a few words."},
            "summary": {
                "type": "STRING",
                "description": "Two or three sentences summing up the call so far, for the person who "
                "takes it: who the caller is, what they want, what was already done.",
            },
        },
        "required": ["target", "reason", "summary"],
    },
    "send_sms": {
        "type": "OBJECT",
        "properties": {
            "to": {"type": "STRING", "description": "E.164 number; empty means the caller."},
            "body": {"type": "STRING", "description": "The text message."},
        },
        "required": ["body"],
    },
    "schedule_callback": {
        "type": "OBJECT",
        "properties": {
            "when": {"type": "STRING", "description": "ISO 8601 date and time, or minutes from now."},
            "number": {"type": "STRING", "description": "E.164 number; empty means the caller."},
            "note": {"type": "STRING"},
        },
        "required": ["when"],
    },
}


@dataclass(frozen=True)
class ToolConfig:
    name: str
    kind: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    secret: str = ""
    timeout_seconds: float = 5.0
    tool_id: int | None = None
    scheduling: str = ""  # INTERRUPT | WHEN_IDLE | SILENT; "" = the default for its kind
    secure_entry: bool = False  # the caller keys digits for this webhook only (engine: secure entry)

    def declaration(self, targets: tuple[str, ...] = ()) -> dict[str, Any]:
        """The function declaration sent to Gemini in `setup.tools`; `targets`: the agent's transfer
        target names, offered to a warm transfer as the enum of its `target`."""
        decl: dict[str, Any] = {"name": self.name, "description": self.description}
        params = self.parameters or BUILTIN_PARAMETERS.get(self.kind)
        if params and self.kind == "warm_transfer" and targets and "target" in params.get("properties", {}):
            target = {**params["properties"]["target"], "enum": list(targets)}
            params = {**params, "properties": {**params["properties"], "target": target}}
        if params:
            decl["parameters"] = to_gemini_schema(params)
        return decl


@dataclass(frozen=True)
class TransferTargetConfig:
    """A person the agent may hand the caller to (`agents.models.TransferTarget`)."""

    name: str
    destination: str
    hours: str = ""


@dataclass(frozen=True)
class AgentConfig:
    name: str
    system_prompt: str
    greeting: str = ""
    consent_announcement: str = ""
    ai_disclosure: str = ""  # not overridable by the configuration webhook: the caller must be told
    model: str = ""
    voice: str = "Puck"
    language: str = ""
    temperature: float = 0.8
    affective_dialog: bool = False
    proactive_audio: bool | None = None  # None: the model's default
    thinking_budget: int | None = None
    thinking_level: str = ""
    start_sensitivity: str = "START_SENSITIVITY_HIGH"
    end_sensitivity: str = "END_SENSITIVITY_HIGH"
    prefix_padding_ms: int = 20
    silence_duration_ms: int = 500
    barge_in: bool = True
    max_call_seconds: int = 600
    max_concurrent_calls: int = 10
    record_calls: bool = True
    config_webhook_url: str = ""
    config_webhook_secret: str = ""
    # After the call (versioned like the rest; the webhook's secret stays on the agent row).
    redact_transcripts: bool = True
    extract_fields: str = ""
    post_call_webhook_url: str = ""
    tools: tuple[ToolConfig, ...] = ()
    transfer_targets: tuple[TransferTargetConfig, ...] = ()
    agent_id: int | None = None

    def transfer_target(self, name: str) -> TransferTargetConfig | None:
        """The target the model named (case and surrounding spaces ignored)."""
        wanted = name.strip().casefold()
        return next((t for t in self.transfer_targets if t.name.casefold() == wanted), None)

    def to_json(self) -> dict[str, Any]:
        """JSON for `Call.agent_snapshot` (secrets left out: the snapshot is shown to staff)."""
        data = asdict(self)
        data.pop("config_webhook_secret")
        for tool in data["tools"]:
            tool.pop("secret")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["tools"] = tuple(ToolConfig(**t) for t in data.get("tools", ()))
        values["transfer_targets"] = tuple(
            TransferTargetConfig(**t) for t in data.get("transfer_targets", ())
        )
        return cls(**values)

    def with_overrides(self, overrides: dict[str, Any]) -> AgentConfig:
        """A copy with the per-call overrides a configuration webhook may set."""
        allowed = {"system_prompt", "greeting", "voice", "language", "temperature", "consent_announcement"}
        data = {k: v for k, v in overrides.items() if k in allowed and v is not None}
        return AgentConfig(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **data})


AFTER_CALL = ("redact_transcripts", "extract_fields", "post_call_webhook_url")


def after_call_settings(call_snapshot: dict[str, Any], agent) -> dict[str, Any]:
    """What happens after a call, as the version the call ran on said (`Call.agent_snapshot`); calls
    stored before these settings were versioned fall back to the agent row (or the defaults)."""
    defaults = {"redact_transcripts": True, "extract_fields": "", "post_call_webhook_url": ""}
    row = {k: getattr(agent, k) for k in AFTER_CALL} if agent is not None else defaults
    return {k: call_snapshot[k] if k in (call_snapshot or {}) else row[k] for k in AFTER_CALL}


def snapshot(agent, draft: bool = False) -> AgentConfig:
    """The configuration a call of `agent` runs on: its published version (secrets from the rows as
    they are now), or the row as edited when it was never published or `draft` is asked for.
    Sync ORM; call off the event loop."""
    version = None if draft else agent.published_version
    if version is not None:
        # Versions published before the after-call settings were versioned take them from the row.
        published = AgentConfig.from_json(
            {**{k: getattr(agent, k) for k in AFTER_CALL if k not in version.config}, **version.config}
        )
        ids = [t.tool_id for t in published.tools]
        secrets = dict(agent.tools.model.objects.filter(pk__in=ids).values_list("pk", "secret"))
        return replace(
            published,
            config_webhook_secret=agent.config_webhook_secret,
            tools=tuple(replace(t, secret=secrets.get(t.tool_id, "")) for t in published.tools),
            agent_id=agent.pk,
        )
    tools = tuple(
        ToolConfig(
            name=t.name,
            kind=t.kind,
            description=t.description,
            parameters=t.parameters or {},
            url=t.url,
            secret=t.secret,
            timeout_seconds=t.timeout_seconds,
            tool_id=t.pk,
            scheduling=t.scheduling,
            secure_entry=t.secure_entry,
        )
        for t in agent.tools.filter(is_active=True).order_by("name")
    )
    return AgentConfig(
        name=agent.name,
        system_prompt=agent.system_prompt,
        greeting=agent.greeting,
        consent_announcement=agent.consent_announcement,
        ai_disclosure=agent.ai_disclosure,
        model=agent.model,
        voice=agent.voice,
        language=agent.language,
        temperature=agent.temperature,
        affective_dialog=agent.affective_dialog,
        proactive_audio=agent.proactive_audio,
        thinking_budget=agent.thinking_budget,
        thinking_level=agent.thinking_level,
        start_sensitivity=agent.start_sensitivity,
        end_sensitivity=agent.end_sensitivity,
        prefix_padding_ms=agent.prefix_padding_ms,
        silence_duration_ms=agent.silence_duration_ms,
        barge_in=agent.barge_in,
        max_call_seconds=agent.max_call_seconds,
        max_concurrent_calls=agent.max_concurrent_calls,
        record_calls=agent.record_calls,
        config_webhook_url=agent.config_webhook_url,
        config_webhook_secret=agent.config_webhook_secret,
        redact_transcripts=agent.redact_transcripts,
        extract_fields=agent.extract_fields,
        post_call_webhook_url=agent.post_call_webhook_url,
        tools=tools,
        transfer_targets=tuple(
            TransferTargetConfig(name=t.name, destination=t.destination, hours=t.hours)
            for t in agent.transfer_targets.order_by("position", "id")
        ),
        agent_id=agent.pk,
    )
