"""Gemini checks: credentials present, and a real Live setup round trip for each model agents use."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from asgiref.sync import async_to_sync
from django.conf import settings
from google.genai import types

from agents import gemini_catalog
from agents.gemini_client import GeminiNotConfigured, get_client
from agents.models import Agent
from agents.snapshot import snapshot

from . import ERROR, OK, WARNING, Finding

SETUP_SECONDS = 15.0  # a Live setup answers in well under a second; leave room for a loaded host


def endpoint() -> str:
    if settings.GEMINI_USE_VERTEX:
        return f"Vertex AI ({settings.GOOGLE_CLOUD_PROJECT or '?'}, {settings.GOOGLE_CLOUD_LOCATION or '?'})"
    return settings.GEMINI_BASE_URL or "Google (generativelanguage.googleapis.com)"


def credentials() -> Finding:
    if settings.GEMINI_USE_VERTEX:
        missing = [
            n for n in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION") if not getattr(settings, n, "")
        ]
        if missing:
            return Finding(ERROR, f"gemini: Vertex AI is on but {' and '.join(missing)} not set: set them")
        key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
        if key_file and not Path(key_file).is_file():
            return Finding(
                ERROR,
                f"gemini: GOOGLE_APPLICATION_CREDENTIALS={key_file} is not a readable file: fix the path",
            )
        how = f"service account {key_file}" if key_file else "application default credentials"
        return Finding(OK, f"gemini: Vertex AI, {how}")
    if settings.GEMINI_USING_EMULATOR:
        level = OK if settings.EMBEDDED_MODE else WARNING
        hint = "" if level == OK else ": set GEMINI_API_KEY (or Vertex AI) for real calls"
        return Finding(level, f"gemini: emulator at {settings.GEMINI_BASE_URL} (offline mode, no key){hint}")
    if not settings.GEMINI_API_KEY:
        return Finding(
            ERROR,
            "gemini: no GEMINI_API_KEY and no Vertex AI settings: set GEMINI_API_KEY "
            "(or GOOGLE_GENAI_USE_VERTEXAI=1 with GOOGLE_CLOUD_PROJECT), or start the emulator (./run does)",
        )
    return Finding(OK, f"gemini: API key set, endpoint {endpoint()}")


def models_in_use() -> dict[str, list[str]]:
    """Model -> names of the active agents whose calls use it (their published version, else the row)."""
    used: dict[str, list[str]] = {}
    for agent in Agent.objects.filter(is_active=True).select_related("published_version").order_by("name"):
        used.setdefault(snapshot(agent).model, []).append(agent.name)
    return used


async def setup_round_trip(model: str) -> None:
    """Open a Live session with a minimal setup (the server answers setupComplete), then close it."""
    config = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO])
    connection = get_client().aio.live.connect(model=model, config=config)
    await asyncio.wait_for(connection.__aenter__(), SETUP_SECONDS)
    await asyncio.wait_for(connection.__aexit__(None, None, None), SETUP_SECONDS)


def what_to_do(exc: BaseException) -> str:
    """The likely fix for a failed setup, from what the SDK raised."""
    text = str(exc).lower()
    if "api key" in text or "permission" in text or "unauthenticated" in text or "1008" in text:
        return "the credentials were refused: check GEMINI_API_KEY (or the Vertex AI service account)"
    if isinstance(exc, ConnectionError | OSError | asyncio.TimeoutError | TimeoutError):
        return f"cannot reach {endpoint()}: check the network, GEMINI_BASE_URL, GEMINI_CA_FILE"
    if "not found" in text or "not supported" in text:
        return "the model was refused: pick a model from agents/gemini_catalog.py in the agent's settings"
    return f"check the key and that {endpoint()} answers"


def live_setup() -> Finding | list[Finding]:
    try:
        get_client()
    except GeminiNotConfigured:
        return []  # `credentials` has said what to set; there is nothing to try a session with
    except OSError as exc:  # GEMINI_CA_FILE missing or unreadable
        return Finding(ERROR, f"gemini live: cannot build the client ({exc}): check GEMINI_CA_FILE")
    used = models_in_use() or {gemini_catalog.DEFAULT_MODEL: []}
    findings = []
    for model, agents in used.items():
        who = f" ({', '.join(agents[:3])}{' …' if len(agents) > 3 else ''})" if agents else " (default model)"
        try:
            async_to_sync(setup_round_trip)(model)
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its cause
            detail = f"{type(exc).__name__}: {exc}".strip()[:240]
            findings.append(
                Finding(ERROR, f"gemini live: setup for {model}{who} failed ({detail}): {what_to_do(exc)}")
            )
        else:
            findings.append(Finding(OK, f"gemini live: session set up and closed with {model}{who}"))
    return findings
