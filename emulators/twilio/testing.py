"""The Twilio emulator on its own thread, for tests and benchmarks.

emu = start_in_thread(app_url, auth_token=...)      # REST server up: emu.rest_url
call = await emu.run(emu.place(to="+1..."))          # coroutines run on the emulator's loop
"""

from __future__ import annotations

from dataclasses import dataclass

from .call import TwilioCall
from .emulator import DEFAULT_ACCOUNT_SID, TwilioEmulator
from .phone import EmulatorThread


@dataclass
class RunningTwilioEmulator:
    emulator: TwilioEmulator
    thread: EmulatorThread

    @property
    def rest_url(self) -> str:
        return self.emulator.rest_url

    async def run(self, coro):
        """Run a coroutine (e.g. `call.say("hi")`) on the emulator's loop and return its result."""
        return await self.thread.run(coro)

    async def place(self, to: str, from_: str = "+15005550006", **kwargs) -> TwilioCall:
        async def _place() -> TwilioCall:
            return self.emulator.place_call(to, from_, **kwargs)

        return await self.run(_place())

    def retarget(self, app_url: str, public_url: str = "") -> None:
        """Send webhooks to another app server (tests start the emulator before daphne)."""
        emulator = self.emulator
        old = emulator.app_url
        emulator.app_url = app_url.rstrip("/")
        emulator.public_url = (public_url or app_url).rstrip("/")
        emulator.voice_url = emulator.voice_url.replace(old, emulator.app_url, 1)
        emulator.status_url = emulator.status_url.replace(old, emulator.app_url, 1)

    def close(self) -> None:
        self.thread.call(self.emulator.close())
        self.thread.stop()


def start_in_thread(
    app_url: str = "http://127.0.0.1:8000",
    auth_token: str = "test-twilio-auth-token",
    account_sid: str = DEFAULT_ACCOUNT_SID,
    **kwargs,
) -> RunningTwilioEmulator:
    thread = EmulatorThread("twilio-emulator")

    async def _start() -> TwilioEmulator:
        emulator = TwilioEmulator(app_url, account_sid=account_sid, auth_token=auth_token, **kwargs)
        await emulator.start_rest()
        return emulator

    return RunningTwilioEmulator(thread.call(_start()), thread)
