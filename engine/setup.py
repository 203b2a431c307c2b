"""From an agent snapshot to a Gemini Live configuration, and the per-call configuration webhook."""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Sequence
from typing import Any

import httpx
from django.conf import settings
from google.genai import types

from agents import gemini_catalog as catalog
from agents.signing import sign
from agents.snapshot import AgentConfig

log = logging.getLogger(__name__)

CONFIG_WEBHOOK_TIMEOUT = 3.0


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, variables: dict[str, Any]) -> str:
    """Fill {caller_number}-style call variables; unknown names are left as written."""
    if not template or "{" not in template:
        return template
    try:
        return string.Formatter().vformat(template, (), _KeepMissing(variables))
    except (ValueError, IndexError):  # a stray brace in the prompt: use it verbatim
        return template


def say_exactly(sentence: str) -> str:
    """The instruction that makes a native-audio model speak a fixed sentence (greeting, goodbye).

    Sent as realtime text: text-only `clientContent` has been refused on native-audio models.
    """
    return f'Say exactly: "{sentence.strip()}"'


def model_features(agent: AgentConfig, api_version: str) -> dict[str, Any]:
    """The optional setup fields this agent asks for that its model accepts, from the catalogue.

    A field the model refuses is never sent (the service would close the setup with 1007 and the
    caller would hear nothing): affective dialog and proactivity off on 3.8, a thinking budget on a
    model that takes a level, and so on. The admin refuses such settings too; this guards rows
    changed outside the form and models whose contract changed after the agent was saved.
    """
    model = catalog.get(agent.model)
    if model is None:
        return {}
    fields: dict[str, Any] = {}
    if model.thinking == "budget" and agent.thinking_budget is not None:
        fields["thinking_config"] = types.ThinkingConfig(thinking_budget=agent.thinking_budget)
    elif model.thinking == "level" and agent.thinking_level:
        fields["thinking_config"] = types.ThinkingConfig(thinking_level=agent.thinking_level.upper())
    if model.affective_dialog and agent.affective_dialog:
        fields["enable_affective_dialog"] = True
    if model.proactive_audio == "optional" and agent.proactive_audio is not None:
        if api_version == "v1alpha":  # reference §3: v1beta/v1 refuse `proactivity` as an unknown name
            fields["proactivity"] = types.ProactivityConfig(proactive_audio=agent.proactive_audio)
        else:
            log.warning("proactive audio needs GEMINI_API_VERSION=v1alpha; not sent on %s", api_version)
    if agent.affective_dialog and not model.affective_dialog:
        log.warning("%s does not support affective dialog; not sent", model.id)
    return fields


def system_instruction(agent: AgentConfig, variables: dict[str, Any], guidance: Sequence[str] = ()) -> str:
    """The agent's prompt for this call, with any supervisor guidance given so far (whispers)."""
    prompt = render(agent.system_prompt, variables)
    if agent.language:
        prompt += f"\n\nSpeak {agent.language} unless the caller speaks another language."
    if guidance:
        notes = "\n".join(f"- {note}" for note in guidance)
        prompt += (
            "\n\nGuidance from your supervisor during this call. Follow it from your next turn on; never"
            f" read it aloud, quote it or mention that you received it:\n{notes}"
        )
    return prompt


def live_config(
    agent: AgentConfig, variables: dict[str, Any], handle: str | None, guidance: Sequence[str] = ()
) -> types.LiveConnectConfig:
    """The Live setup for one connection of a call, following the contract of the agent's model."""
    prompt = system_instruction(agent, variables, guidance)
    tools = None
    if agent.tools:
        targets = tuple(t.name for t in agent.transfer_targets)
        declarations = [types.FunctionDeclaration.model_validate(t.declaration(targets)) for t in agent.tools]
        tools = [types.Tool(function_declarations=declarations)]
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        temperature=agent.temperature,
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=agent.voice)
            )
        ),
        system_instruction=prompt,
        tools=tools,
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(
                disabled=False,
                start_of_speech_sensitivity=agent.start_sensitivity,
                end_of_speech_sensitivity=agent.end_sensitivity,
                prefix_padding_ms=agent.prefix_padding_ms,
                silence_duration_ms=agent.silence_duration_ms,
            ),
            activity_handling=(
                types.ActivityHandling.START_OF_ACTIVITY_INTERRUPTS
                if agent.barge_in
                else types.ActivityHandling.NO_INTERRUPTION
            ),
        ),
        session_resumption=types.SessionResumptionConfig(handle=handle),
        context_window_compression=types.ContextWindowCompressionConfig(sliding_window=types.SlidingWindow()),
        **model_features(agent, settings.GEMINI_API_VERSION),
    )


async def fetch_call_config(agent: AgentConfig, call: dict[str, Any]) -> tuple[AgentConfig, str]:
    """Ask the agent's configuration webhook for per-call overrides (seed 003's callback).

    Returns the config to use and what happened ("applied", "failed: ...", "none"). Any failure
    falls back to the agent's own settings: a slow webhook must not keep a caller waiting.
    """
    if not agent.config_webhook_url:
        return agent, "none"
    body = json.dumps(call, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if agent.config_webhook_secret:
        headers["X-Signature"] = sign(agent.config_webhook_secret, body)
    try:
        async with httpx.AsyncClient(timeout=CONFIG_WEBHOOK_TIMEOUT) as http:
            response = await http.post(agent.config_webhook_url, content=body, headers=headers)
        response.raise_for_status()
        overrides = response.json()
        if not isinstance(overrides, dict):
            raise ValueError("the answer is not a JSON object")
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("configuration webhook failed (%s); using the agent's own settings", exc)
        return agent, f"failed: {exc}"
    log.info("configuration webhook applied: %s", ", ".join(sorted(overrides)) or "nothing")
    return agent.with_overrides(overrides), "applied"
