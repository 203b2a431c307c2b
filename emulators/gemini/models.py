"""Each Live model's setup contract as the emulator enforces it; the emulator's own table, written from
`reference/gemini-live.md` and Google's model pages, not shared with the product's catalogue (a
mistake in one must not pass on both sides).

Tags: [DOC] Google's documentation says so; [ASSUMED] the behaviour is documented but the exact close
code and reason are not, so the emulator answers the way the real service answers the nearest
documented case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from . import protocol as p


@dataclass(frozen=True)
class Contract:
    """What one model refuses in an otherwise well-formed setup."""

    affective_dialog: bool = True  # generationConfig.enableAffectiveDialog exists
    proactive_audio_off: bool = True  # proactivity.proactiveAudio may be false
    thinking_fields: frozenset[str] = frozenset({"thinking_budget", "thinking_level", "include_thoughts"})
    # The model has no affective dialog or proactivity, and a setup carrying either is never answered:
    # no setupComplete, no close (the client's connect times out).
    hangs_on_native_audio_knobs: bool = False
    # Function calls are NON_BLOCKING by default: the model keeps speaking while a call runs and uses
    # each response per its `scheduling` [DOC reference §7, 3.8 rows]. Elsewhere a declaration's
    # `behavior: NON_BLOCKING` asks for it (2.5) [DOC reference §3].
    non_blocking_calls: bool = False
    # serverContent.interactionStatus tells when the model is idle; turnComplete alone no longer does
    # [DOC issue 15 / reference §2.6: receive() stops on turnComplete or interactionStatus IDLE].
    interaction_status: bool = False
    # A text-only clientContent turn with turnComplete: "accepted" (the model answers it like speech),
    # "refused" (closed with `client_text_close`), or "initial_history" (only as history seeding
    # before the conversation starts, with historyConfig.initialHistoryInClientContent; refused after).
    client_text: Literal["accepted", "refused", "initial_history"] = "refused"
    client_text_close: tuple[int, str] = p.NON_AUDIO


# 2.5 native audio: affective dialog, proactivity (v1alpha), thinkingBudget [DOC reference §3]. A
# text-only clientContent turn is closed 1007 "Cannot extract voices from a non-audio request" [OBS
# reference §3, a telephony project on a native-audio model].
OPEN = Contract()
# gemini-3.8-live model page, "Migrating from Gemini 3.1 Flash Live" [DOC]: affective dialog was removed
# from the API; proactive audio is always on and `proactive_audio: false` returns an error;
# thinking_level is not supported, omit thinking_level (or thinking_config).
LIVE_38 = Contract(
    affective_dialog=False,
    proactive_audio_off=False,
    thinking_fields=frozenset({"include_thoughts"}),
    non_blocking_calls=True,
    client_text="accepted",  # [DOC issue 15: the 3.8 model page allows send_client_content all session]
)
# Extended thinking: the same setup contract [ASSUMED], and interactionStatus [DOC model page, issue 15].
LIVE_38_EXTENDED = Contract(
    affective_dialog=False,
    proactive_audio_off=False,
    thinking_fields=frozenset({"include_thoughts"}),
    non_blocking_calls=True,
    interaction_status=True,
    client_text="accepted",  # [ASSUMED] as gemini-3.8-live
)
# gemini-3.1-flash-live-preview: no proactive audio or affective dialog [DOC reference §7]; a setup with
# enableAffectiveDialog or proactivity never gets setupComplete [OBS PatterAI/Patter PR #210, 2026-07,
# "100% reproducible"; the PR names affectiveDialog, proactivity by the same reasoning: ASSUMED].
FLASH_31 = Contract(
    affective_dialog=False,
    proactive_audio_off=False,
    thinking_fields=frozenset({"thinking_level", "include_thoughts"}),  # [ASSUMED] no thinkingBudget
    hangs_on_native_audio_knobs=True,
    # [OBS livekit/agents PR #5251, google/adk-python #5018, 2026-03] clientContent only seeds history
    # (historyConfig.initialHistoryInClientContent, [DOC HistoryConfig]); any other is closed 1007
    # "Request contains an invalid argument." (a translated copy of the model page says clientContent
    # works all session long; the two reports against the live service win here).
    client_text="initial_history",
    client_text_close=p.INVALID_ARGUMENT,
)
CONTRACTS: dict[str, Contract] = {
    "gemini-3.1-flash-live-preview": FLASH_31,
    "gemini-3.8-live": LIVE_38,
    "gemini-3.8-live-extended-thinking": LIVE_38_EXTENDED,
}


def contract(model_id: str) -> Contract:
    """The contract of a model id (without `models/`); models not listed have the 2.5 contract."""
    return CONTRACTS.get(model_id, OPEN)


def _as_sent(raw: dict[str, Any], parent: str, name: str) -> str:
    """The spelling the client used for `parent.name` (the real service echoes names as sent)."""
    for key, value in raw.items():
        if p.snake(key) == parent and isinstance(value, dict):
            return next((k for k in value if p.snake(k) == name), name)
    return name


def hangs(model_id: str, setup: dict[str, Any]) -> bool:
    """True when the real service would leave this setup unanswered (see FLASH_31)."""
    contract = CONTRACTS.get(model_id, OPEN)
    gen = setup.get("generation_config") or {}
    return contract.hangs_on_native_audio_knobs and (
        "enable_affective_dialog" in gen or "proactivity" in setup
    )


def check(model_id: str, setup: dict[str, Any], raw: dict[str, Any]) -> None:
    """Raise ProtocolError with the close the real service sends for a field this model refuses.

    `setup` is normalised to snake_case keys; `raw` is the setup as the client spelled it. Call
    `hangs` first: a model that hangs on a field does not refuse it.
    """
    contract = CONTRACTS.get(model_id, OPEN)
    gen = setup.get("generation_config") or {}
    if not contract.affective_dialog and "enable_affective_dialog" in gen:
        # [ASSUMED] "removed from the API": a removed proto field is an unknown name (1007), even when
        # false, as older models answered before the field existed (python-genai #865, cookbook #775).
        name = _as_sent(raw, "generation_config", "enable_affective_dialog")
        raise p.ProtocolError(p.unknown_field(name, "setup.generation_config"))
    proactivity = setup.get("proactivity") or {}
    if not contract.proactive_audio_off and proactivity.get("proactive_audio") is False:
        # [DOC] an error; [ASSUMED] the generic invalid-argument close (1007).
        raise p.ProtocolError(p.INVALID_ARGUMENT)
    thinking = gen.get("thinking_config") or {}
    if any(field not in contract.thinking_fields for field in thinking):
        # [DOC] not supported; [ASSUMED] the generic invalid-argument close (1007).
        raise p.ProtocolError(p.INVALID_ARGUMENT)


# --- models.list / models.get ---------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One model as the REST `models` resource describes it (the `Model` message)."""

    display_name: str
    description: str
    input_token_limit: int
    output_token_limit: int
    live: bool  # bidiGenerateContent (Live) rather than generateContent
    thinking: bool = True


_LIVE_METHODS = ["bidiGenerateContent"]  # [OBS reference §7: models.list shows it on Live models]
# [ASSUMED] the text models' list, as the service lists Gemini 2.x/3.x text models.
_TEXT_METHODS = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
_NATIVE_25 = "Gemini 2.5 Flash native audio for the Live API"
# Token limits: 3.1 and 3.8 pages say 131,072 in / 65,536 out [DOC reference §6.1]; 2.5 native audio
# has a 128k context [DOC §6.1] and 8,192 out [ASSUMED]. Text models: the model pages' figures [DOC].
LISTINGS: dict[str, Listing] = {
    "gemini-2.5-flash-native-audio-preview-12-2025": Listing(
        "Gemini 2.5 Flash Native Audio Preview 12-2025", _NATIVE_25, 131_072, 8_192, live=True
    ),
    "gemini-2.5-flash-native-audio-preview-09-2025": Listing(
        "Gemini 2.5 Flash Native Audio Preview 09-2025", _NATIVE_25, 131_072, 8_192, live=True
    ),
    "gemini-2.5-flash-native-audio-latest": Listing(
        "Gemini 2.5 Flash Native Audio Latest", _NATIVE_25, 131_072, 8_192, live=True
    ),
    "gemini-3.1-flash-live-preview": Listing(
        "Gemini 3.1 Flash Live Preview", "Legacy preview Live model", 131_072, 65_536, live=True
    ),
    "gemini-3.8-live": Listing("Gemini 3.8 Live", "Gemini 3.8 Live", 131_072, 65_536, live=True),
    "gemini-3.8-live-extended-thinking": Listing(
        "Gemini 3.8 Live Extended Thinking",
        "Gemini 3.8 Live with extended thinking",
        131_072,
        65_536,
        live=True,
    ),
    "gemini-2.5-flash": Listing("Gemini 2.5 Flash", "Gemini 2.5 Flash", 1_048_576, 65_536, live=False),
    "gemini-2.5-flash-lite": Listing(
        "Gemini 2.5 Flash-Lite", "Gemini 2.5 Flash-Lite", 1_048_576, 65_536, live=False
    ),
    "gemini-2.5-pro": Listing("Gemini 2.5 Pro", "Gemini 2.5 Pro", 1_048_576, 65_536, live=False),
    "gemini-2.0-flash": Listing(
        "Gemini 2.0 Flash", "Gemini 2.0 Flash", 1_048_576, 8_192, live=False, thinking=False
    ),
    "gemini-2.0-flash-lite": Listing(
        "Gemini 2.0 Flash-Lite", "Gemini 2.0 Flash-Lite", 1_048_576, 8_192, live=False, thinking=False
    ),
}


def listing(model_id: str, *, live: bool) -> dict[str, Any]:
    """The REST `Model` JSON for one allowed model id (camelCase, as the service sends it). Ids the
    table does not describe (a scenario's allow-list, newer text models) get [ASSUMED] defaults."""
    known = LISTINGS.get(model_id)
    info = (
        known
        if known is not None and known.live == live
        else Listing(model_id, model_id, 131_072 if live else 1_048_576, 65_536, live=live)
    )
    return {
        "name": f"models/{model_id}",
        "version": "001",
        "displayName": info.display_name,
        "description": info.description,
        "inputTokenLimit": info.input_token_limit,
        "outputTokenLimit": info.output_token_limit,
        "supportedGenerationMethods": list(_LIVE_METHODS if live else _TEXT_METHODS),
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": info.thinking,
    }
