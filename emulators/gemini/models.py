"""Each Live model's setup contract as the emulator enforces it; the emulator's own table, written from
`reference/gemini-live.md` and Google's model pages, not shared with the product's catalogue (a
mistake in one must not pass on both sides).

Tags: [DOC] Google's documentation says so; [ASSUMED] the behaviour is documented but the exact close
code and reason are not, so the emulator answers the way the real service answers the nearest
documented case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


# 2.5 native audio: affective dialog, proactivity (v1alpha), thinkingBudget [DOC reference §3].
OPEN = Contract()
# gemini-3.8-live model page, "Migrating from Gemini 3.1 Flash Live" [DOC]: affective dialog was removed
# from the API; proactive audio is always on and `proactive_audio: false` returns an error;
# thinking_level is not supported, omit thinking_level (or thinking_config).
LIVE_38 = Contract(
    affective_dialog=False,
    proactive_audio_off=False,
    thinking_fields=frozenset({"include_thoughts"}),
    non_blocking_calls=True,
)
# Extended thinking: the same setup contract [ASSUMED], and interactionStatus [DOC model page, issue 15].
LIVE_38_EXTENDED = Contract(
    affective_dialog=False,
    proactive_audio_off=False,
    thinking_fields=frozenset({"include_thoughts"}),
    non_blocking_calls=True,
    interaction_status=True,
)
# gemini-3.1-flash-live-preview: no proactive audio or affective dialog [DOC reference §7]; a setup with
# enableAffectiveDialog or proactivity never gets setupComplete [OBS PatterAI/Patter PR #210, 2026-07,
# "100% reproducible"; the PR names affectiveDialog, proactivity by the same reasoning: ASSUMED].
FLASH_31 = Contract(
    affective_dialog=False,
    proactive_audio_off=False,
    thinking_fields=frozenset({"thinking_level", "include_thoughts"}),  # [ASSUMED] no thinkingBudget
    hangs_on_native_audio_knobs=True,
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
