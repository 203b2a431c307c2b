"""Pay the engine's one-time costs when a process starts, not during its first call.

The first call of a process used to build the google-genai client (TLS contexts, HTTP clients) and
the SDK's pydantic models (their schemas are compiled on first use: ~80 ms idle, several hundred ms
on a busy 2-core machine) on the event loop, stalling every other stream of that process and, in
`runsip`, a SIGTERM long enough for a new INVITE to be answered instead of refused. Media processes
(daphne's ASGI application, `runsip`, `runasterisk`) call `warm_up()` before they take calls.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def warm_up() -> float:
    """Import the engine, build the Gemini client and one full Live setup; seconds spent. Sync: call it
    before the event loop runs (or off it). Never raises: a process without Gemini settings still
    starts, and each call then fails politely and logs why."""
    started = time.perf_counter()
    try:
        import engine.call  # noqa: F401 - the SDK and everything a call imports
        from agents.gemini_client import GeminiNotConfigured, get_client
        from agents.snapshot import AgentConfig, ToolConfig

        from .setup import live_config

        try:
            get_client()
        except GeminiNotConfigured:
            pass
        agent = AgentConfig(
            name="warm-up",
            system_prompt="warm-up",
            tools=(ToolConfig(name="end_call", kind="end_call", description="warm-up"),),
        )
        live_config(agent, {}, "warm-up")
    except Exception:  # noqa: BLE001 - a warm-up must never keep a process from starting
        log.exception("engine warm-up failed; the first call pays for it instead")
    return time.perf_counter() - started
