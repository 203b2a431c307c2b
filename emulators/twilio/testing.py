"""The Twilio emulator on its own thread, for tests and benchmarks.

emu = start_in_thread(app_url, auth_token=...)      # REST server up: emu.rest_url
call = await emu.run(emu.place(to="+1..."))          # coroutines run on the emulator's loop
"""

from __future__ import annotations

from dataclasses import dataclass

from emulators.carrier.testing import RunningCarrierEmulator, start_emulator_thread

from .emulator import DEFAULT_ACCOUNT_SID, TwilioEmulator


@dataclass
class RunningTwilioEmulator(RunningCarrierEmulator):
    emulator: TwilioEmulator

    def retarget(self, app_url: str, public_url: str = "") -> None:
        """Send webhooks (voice and status URLs too) to another app server."""
        old = self.emulator.app_url
        super().retarget(app_url, public_url)
        emulator = self.emulator
        emulator.voice_url = emulator.voice_url.replace(old, emulator.app_url, 1)
        emulator.status_url = emulator.status_url.replace(old, emulator.app_url, 1)


def start_in_thread(
    app_url: str = "http://127.0.0.1:8000",
    auth_token: str = "test-twilio-auth-token",
    account_sid: str = DEFAULT_ACCOUNT_SID,
    **kwargs,
) -> RunningTwilioEmulator:
    emulator, thread = start_emulator_thread(
        "twilio-emulator",
        lambda: TwilioEmulator(app_url, account_sid=account_sid, auth_token=auth_token, **kwargs),
    )
    return RunningTwilioEmulator(emulator, thread)
