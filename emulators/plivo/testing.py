"""The Plivo emulator on its own thread, for tests and benchmarks (same shape as the Twilio one)."""

from __future__ import annotations

from dataclasses import dataclass

from emulators.carrier.testing import RunningCarrierEmulator, start_emulator_thread

from .emulator import DEFAULT_AUTH_ID, PlivoEmulator


@dataclass
class RunningPlivoEmulator(RunningCarrierEmulator):
    emulator: PlivoEmulator


def start_in_thread(
    app_url: str = "http://127.0.0.1:8000",
    auth_token: str = "test-plivo-auth-token",
    auth_id: str = DEFAULT_AUTH_ID,
    **kwargs,
) -> RunningPlivoEmulator:
    emulator, thread = start_emulator_thread(
        "plivo-emulator", lambda: PlivoEmulator(app_url, auth_id=auth_id, auth_token=auth_token, **kwargs)
    )
    return RunningPlivoEmulator(emulator, thread)
