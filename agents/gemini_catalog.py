"""What Gemini Live offers: models and what each accepts, voices, VAD enums.

One table, `MODELS`, is the contract of each Live model: the admin offers and refuses settings from
it, the engine builds the setup from it. Adding a model is an edit here, not a migration. Facts come
from `reference/gemini-live.md` (§3, §4, §6.1, §7); where the reference is silent the entry says
"assumed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Thinking = Literal["budget", "level", "none"]
Proactive = Literal["optional", "always", "none"]
Calls = Literal["blocking", "non_blocking", "both"]


@dataclass(frozen=True)
class LiveModel:
    """One Live model's contract: which setup fields it takes and how it behaves."""

    id: str
    label: str
    # thinkingConfig: "budget" = thinkingBudget (2.5), "level" = thinkingLevel (3.1), "none" = neither (3.8)
    thinking: Thinking
    # proactivity.proactiveAudio: "optional" = may be set either way, "always" = always on (false is
    # refused), "none" = not offered
    proactive_audio: Proactive
    affective_dialog: bool  # generationConfig.enableAffectiveDialog accepted
    # function calling: "non_blocking" = NON_BLOCKING by default and responses carry `scheduling`;
    # "both" = BLOCKING by default, NON_BLOCKING per declaration; "blocking" = no async calls
    function_calls: Calls
    turn_complete_is_idle: bool  # False: wait for serverContent.interactionStatus idle
    context_window: int  # input tokens
    vertex_name: str = ""  # the id on Vertex AI, when it has one
    vertex_only: bool = False
    # contextUpdate {systemInstruction} mid-session (SDK send_context_update, "new in 3.x", §2.5):
    # how a supervisor's whisper reaches the agent. Assumed absent on 2.5 (not documented there).
    context_update: bool = True

    @property
    def scheduling(self) -> bool:
        """Whether tool responses carry `scheduling` (SILENT | WHEN_IDLE | INTERRUPT): only where calls
        are NON_BLOCKING by default; our declarations set no `behavior`, so elsewhere they block."""
        return self.function_calls == "non_blocking"


_25 = {
    "context_update": False,  # assumed: §2.5 lists contextUpdate as new in 3.x
    "thinking": "budget",  # assumed: 2.5 Flash takes thinkingBudget (0..24576, -1 dynamic)
    "proactive_audio": "optional",  # §3: proactivity (v1alpha only on the Developer API)
    "affective_dialog": True,  # §3 enableAffectiveDialog
    "function_calls": "both",  # §3 behavior: BLOCKING | NON_BLOCKING
    "turn_complete_is_idle": True,
    "context_window": 131_072,  # §6.1: 128k on native audio
}
_38 = {
    "thinking": "none",  # §3: 3.8-live accepts neither thinkingBudget nor thinkingLevel
    "proactive_audio": "always",  # §3: always on, false is an error
    "affective_dialog": False,  # §3: removed on 3.8
    "function_calls": "non_blocking",  # §7: NON_BLOCKING by default
    "context_window": 131_072,  # §6.1: 131,072 in, 65,536 out
}

MODELS: dict[str, LiveModel] = {
    m.id: m
    for m in (
        LiveModel("gemini-3.8-live", "Gemini 3.8 Live (recommended)", turn_complete_is_idle=True, **_38),
        LiveModel(
            "gemini-3.8-live-extended-thinking",
            "Gemini 3.8 Live, extended thinking",
            turn_complete_is_idle=False,  # issue 15: idle is serverContent.interactionStatus
            **_38,
        ),
        LiveModel(
            "gemini-3.1-flash-live-preview",
            "Gemini 3.1 Flash Live (legacy preview)",
            thinking="level",  # §3, §7
            proactive_audio="none",  # §7: no proactive audio, affective dialog or async calls
            affective_dialog=False,
            function_calls="blocking",
            turn_complete_is_idle=True,
            context_window=131_072,
        ),
        LiveModel(
            "gemini-2.5-flash-native-audio-preview-12-2025",
            "Gemini 2.5 Flash native audio (12-2025)",
            vertex_name="gemini-live-2.5-flash-native-audio",  # assumed: the Vertex GA of this line
            **_25,
        ),
        LiveModel(
            "gemini-2.5-flash-native-audio-preview-09-2025", "Gemini 2.5 Flash native audio (09-2025)", **_25
        ),
        LiveModel(
            "gemini-2.5-flash-native-audio-latest", "Gemini 2.5 Flash native audio (latest alias)", **_25
        ),
        LiveModel(
            "gemini-live-2.5-flash-native-audio",
            "Vertex AI: Gemini Live 2.5 Flash native audio",
            vertex_name="gemini-live-2.5-flash-native-audio",
            vertex_only=True,
            **_25,
        ),
    )
}
DEFAULT_MODEL = "gemini-3.8-live"
LIVE_MODELS = [(m.id, m.label) for m in MODELS.values()]  # (id, label) choices for forms
THINKING_LEVELS = [("minimal", "Minimal"), ("low", "Low"), ("medium", "Medium"), ("high", "High")]  # assumed
THINKING_BUDGET_MAX = 24_576  # assumed: 2.5 Flash's range; -1 means dynamic


def get(model_id: str) -> LiveModel | None:
    """The catalogue entry for a model id (with or without `models/`), or None if unknown."""
    return MODELS.get(model_id.removeprefix("models/"))


def unsupported(
    model_id: str,
    *,
    affective_dialog: bool,
    proactive_audio: bool | None,
    thinking_budget: int | None,
    thinking_level: str,
) -> dict[str, str]:
    """Settings the model refuses, as {field: message naming the model}; empty when all is well."""
    m = get(model_id)
    if m is None:
        return {"model": f"{model_id} is not in the model catalogue."}
    errors: dict[str, str] = {}
    if affective_dialog and not m.affective_dialog:
        errors["affective_dialog"] = f"{m.id} does not support affective dialog."
    if proactive_audio is not None:
        if m.proactive_audio == "none":
            errors["proactive_audio"] = (
                f"{m.id} does not support proactive audio; leave it on the model default."
            )
        elif m.proactive_audio == "always" and proactive_audio is False:
            errors["proactive_audio"] = f"{m.id} always uses proactive audio; it cannot be turned off."
    if thinking_budget is not None and m.thinking != "budget":
        errors["thinking_budget"] = f"{m.id} does not take a thinking budget."
    if thinking_level and m.thinking != "level":
        errors["thinking_level"] = f"{m.id} does not take a thinking level."
    return errors


VOICES = [
    "Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe", "Autonoe",
    "Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi",
    "Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird", "Zubenelgenubi",
    "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat",
]  # fmt: skip
DEFAULT_VOICE = "Puck"

START_SENSITIVITY = [
    ("START_SENSITIVITY_HIGH", "High (reacts to quiet speech)"),
    ("START_SENSITIVITY_LOW", "Low"),
]
END_SENSITIVITY = [("END_SENSITIVITY_HIGH", "High (ends the turn sooner)"), ("END_SENSITIVITY_LOW", "Low")]
