"""Wire-level rules of BidiGenerateContent: proto field tables, key normalisation, base64, close reasons.

The real service parses client frames as proto3 JSON, so camelCase and snake_case keys are both valid at
any depth and unknown names are refused with the snake_case path of the offending field (reference §6.3).
The tables below list the fields the Developer API accepts; anything else is "Unknown name".
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

# --- close codes and reason texts (reference §6.3) -------------------------------------------------

REASON_LIMIT = 123


def truncate_reason(reason: str) -> str:
    """Close reasons are cut at 123 bytes, as the real service does (RFC 6455 control-frame limit)."""
    raw = reason.encode("utf-8")[:REASON_LIMIT]
    return raw.decode("utf-8", errors="ignore")


BAD_KEY = (1007, "API key not valid. Please pass a valid API key.")
NO_KEY = (
    1008,
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API.",
)
NOT_FIRST = (1007, "Request contains an invalid argument.")
SECOND_SETUP = (1007, "setup must be the first message and only the first")
NON_AUDIO = (1007, "Cannot extract voices from a non-audio request")
INVALID_ARGUMENT = (1007, "Request contains an invalid argument.")
PRECONDITION = (1007, "Precondition check failed.")
SESSION_NOT_FOUND = (1008, "BidiGenerateContent session not found")
QUOTA = (1011, "You exceeded your current quota, please check your plan and billing details")
INTERNAL = (1011, "Internal error encountered.")
GOAWAY_IGNORED = (
    1008,
    "Connection aborted because the client failed to close the connection after receiving a GoAway "
    "signal once the session duration limit was reached.",
)
ACTIVITY_WITH_AUTO_VAD = (
    1007,
    "Explicit activity control is not supported when automatic activity detection is enabled.",
)


def model_not_found(model: str, version: str) -> tuple[int, str]:
    return (
        1008,
        f"{model} is not found for API version {version}, or is not supported for bidiGenerateContent. "
        "Call ModelService.ListModels to see the list of available models and their supported methods.",
    )


def unknown_field(name: str, path: str) -> tuple[int, str]:
    where = f" at '{path}'" if path else ""
    return 1007, f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'


class ProtocolError(Exception):
    """A client error that closes the socket with (code, reason)."""

    def __init__(self, close: tuple[int, str]) -> None:
        super().__init__(close[1])
        self.code, self.reason = close


# --- proto field tables ------------------------------------------------------------------------------

ANY = "any"  # google.protobuf.Struct / Value or a message we do not inspect
SCALAR = "scalar"

# message name -> {snake_field: type}; type is SCALAR, ANY, a message name, ("repeated", msg) or ("map", msg)
MESSAGES: dict[str, dict[str, Any]] = {
    "ClientMessage": {
        "setup": "Setup",
        "client_content": "ClientContent",
        "realtime_input": "RealtimeInput",
        "tool_response": "ToolResponse",
        "context_update": ANY,
    },
    "Setup": {
        "model": SCALAR,
        "generation_config": "GenerationConfig",
        "system_instruction": "Content",
        "tools": ("repeated", "Tool"),
        "realtime_input_config": "RealtimeInputConfig",
        "session_resumption": "SessionResumptionConfig",
        "context_window_compression": "ContextWindowCompression",
        "input_audio_transcription": "AudioTranscriptionConfig",
        "output_audio_transcription": "AudioTranscriptionConfig",
        "proactivity": "Proactivity",  # removed for non-v1alpha in validate()
        "history_config": "HistoryConfig",
        "avatar_config": ANY,
    },
    "GenerationConfig": {
        **{
            f: SCALAR
            for f in (
                "candidate_count max_output_tokens temperature top_p top_k presence_penalty "
                "frequency_penalty response_modalities media_resolution seed enable_affective_dialog "
                "stop_sequences response_logprobs logprobs response_mime_type enable_enhanced_civic_answers"
            ).split()
        },
        "speech_config": "SpeechConfig",
        "thinking_config": "ThinkingConfig",
        "translation_config": ANY,
        "response_schema": "Schema",
        "response_json_schema": ANY,
    },
    "SpeechConfig": {"voice_config": "VoiceConfig", "language_code": SCALAR},
    "VoiceConfig": {"prebuilt_voice_config": "PrebuiltVoiceConfig"},
    "PrebuiltVoiceConfig": {"voice_name": SCALAR},
    "ThinkingConfig": {"thinking_budget": SCALAR, "thinking_level": SCALAR, "include_thoughts": SCALAR},
    "Content": {"role": SCALAR, "parts": ("repeated", "Part")},
    "Part": {
        "text": SCALAR,
        "inline_data": "Blob",
        "file_data": ANY,
        "function_call": ANY,
        "function_response": ANY,
        "thought": SCALAR,
        "thought_signature": SCALAR,
        "executable_code": ANY,
        "code_execution_result": ANY,
        "video_metadata": ANY,
    },
    "Blob": {"mime_type": SCALAR, "data": SCALAR},
    "Tool": {
        "function_declarations": ("repeated", "FunctionDeclaration"),
        "google_search": ANY,
        "google_search_retrieval": ANY,
        "code_execution": ANY,
        "url_context": ANY,
        "google_maps": ANY,
        "computer_use": ANY,
    },
    "FunctionDeclaration": {
        "name": SCALAR,
        "description": SCALAR,
        "behavior": SCALAR,
        "parameters": "Schema",
        "parameters_json_schema": ANY,
        "response": "Schema",
        "response_json_schema": ANY,
    },
    "Schema": {
        **{
            f: SCALAR
            for f in (
                "type format title description nullable enum max_items min_items required min_properties "
                "max_properties min_length max_length pattern property_ordering minimum maximum"
            ).split()
        },
        "example": ANY,
        "default": ANY,
        "properties": ("map", "Schema"),
        "items": "Schema",
        "any_of": ("repeated", "Schema"),
    },
    "RealtimeInputConfig": {
        "automatic_activity_detection": "AutomaticActivityDetection",
        "activity_handling": SCALAR,
        "turn_coverage": SCALAR,
    },
    "AutomaticActivityDetection": {
        f: SCALAR
        for f in (
            "disabled start_of_speech_sensitivity end_of_speech_sensitivity prefix_padding_ms silence_duration_ms"
        ).split()
    },
    "SessionResumptionConfig": {"handle": SCALAR},
    "ContextWindowCompression": {"trigger_tokens": SCALAR, "sliding_window": "SlidingWindow"},
    "SlidingWindow": {"target_tokens": SCALAR},
    "AudioTranscriptionConfig": {"language_codes": SCALAR, "custom_vocabulary": ANY, "mode": SCALAR},
    "Proactivity": {"proactive_audio": SCALAR},
    "HistoryConfig": {"initial_history_in_client_content": SCALAR},
    "ClientContent": {"turns": ("repeated", "Content"), "turn_complete": SCALAR},
    "RealtimeInput": {
        "media_chunks": ("repeated", "Blob"),
        "audio": "Blob",
        "video": "Blob",
        "text": SCALAR,
        "audio_stream_end": SCALAR,
        "activity_start": "Empty",
        "activity_end": "Empty",
    },
    "Empty": {},
    "ToolResponse": {"function_responses": ("repeated", "FunctionResponse")},
    "FunctionResponse": {
        "id": SCALAR,
        "name": SCALAR,
        "response": ANY,
        "scheduling": SCALAR,
        "will_continue": SCALAR,
        "parts": ANY,
    },
}

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """proto3 JSON accepts lowerCamel and the original snake_case name; map both to snake_case."""
    return _CAMEL.sub("_", name).lower()


def normalise(value: Any, message: str, path: str, *, allow_proactivity: bool = True) -> Any:
    """Validate a JSON object against MESSAGES[message] and return it with snake_case keys.

    Raises ProtocolError with the real "Unknown name" text and snake_case path on the first unknown field.
    """
    if not isinstance(value, dict):
        if message == "Empty" or value is None:
            return {}
        raise ProtocolError(
            (1007, f"Invalid JSON payload received. Expected an object at '{path}'.")
            if path
            else (1007, "Invalid JSON payload received. Expected an object.")
        )
    table = MESSAGES[message]
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = snake(key)
        kind = table.get(field)
        if kind is None or (field == "proactivity" and not allow_proactivity):
            raise ProtocolError(unknown_field(key, path))
        sub = f"{path}.{field}" if path else field
        if kind in (SCALAR, ANY):
            out[field] = item
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            if not isinstance(item, list):
                item = [item]
            out[field] = [normalise(v, kind[1], f"{sub}[{i}]") for i, v in enumerate(item)]
        elif isinstance(kind, tuple) and kind[0] == "map":
            if not isinstance(item, dict):
                raise ProtocolError((1007, f"Invalid JSON payload received. Expected an object at '{sub}'."))
            out[field] = {
                k: normalise(v, kind[1], f"{sub}[{i}].value") for i, (k, v) in enumerate(item.items())
            }
        else:
            out[field] = normalise(item, kind, sub)
    return out


def parse_client_message(obj: Any, api_version: str) -> tuple[str, dict[str, Any]]:
    """Return (snake top-level field, normalised body) for one client frame."""
    if not isinstance(obj, dict):
        raise ProtocolError((1007, "Invalid JSON payload received. Unexpected token."))
    if len(obj) != 1:
        if not obj:
            raise ProtocolError(INVALID_ARGUMENT)
        names = [snake(k) for k in obj]
        raise ProtocolError(
            (
                1007,
                "Invalid JSON payload received. Oneof field 'message_type' is already set. "
                f"Cannot set '{names[1]}'",
            )
        )
    ((key, body),) = obj.items()
    field = snake(key)
    kind = MESSAGES["ClientMessage"].get(field)
    if kind is None:
        raise ProtocolError(unknown_field(key, ""))
    if kind == ANY:
        return field, body if isinstance(body, dict) else {}
    return field, normalise(body, kind, field, allow_proactivity=api_version == "v1alpha")


def b64decode(data: str, path: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not (the SDK sends URL-safe)."""
    if not isinstance(data, str):
        raise ProtocolError((1007, f"Invalid value at '{path}' (TYPE_BYTES)"))
    s = data.strip().replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(
            (1007, f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for \"{data[:40]}\"")
        ) from None


def b64encode(data: bytes) -> str:
    """The real service sends standard base64."""
    return base64.b64encode(data).decode("ascii")


def pcm_rate(mime_type: str | None) -> int | None:
    """Sample rate named by an audio/pcm MIME type; 16 kHz when absent. None when not audio/*."""
    mime = (mime_type or "audio/pcm").lower()
    if not mime.startswith("audio/"):
        return None
    m = re.search(r"rate=(\d+)", mime)
    return int(m.group(1)) if m else 16000


def duration(seconds: float) -> str:
    """protobuf Duration JSON form, e.g. '50s'."""
    return f"{seconds:.0f}s" if float(seconds).is_integer() else f"{seconds:.3f}s"
