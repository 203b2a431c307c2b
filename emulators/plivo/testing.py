"""The Plivo emulator on its own thread, for tests and benchmarks (same shape as the Twilio one)."""

from __future__ import annotations

from dataclasses import dataclass

from emulators.twilio.phone import EmulatorThread

from .call import PlivoCall
from .emulator import DEFAULT_AUTH_ID, PlivoEmulator


@dataclass
class RunningPlivoEmulator:
    emulator: PlivoEmulator
    thread: EmulatorThread

    @property
    def rest_url(self) -> str:
        return self.emulator.rest_url

    async def run(self, coro):
        return await self.thread.run(coro)

    async def place(self, to: str, from_: str = "+14155550100", **kwargs) -> PlivoCall:
        async def _place() -> PlivoCall:
            return self.emulator.place_call(to, from_, **kwargs)

        return await self.run(_place())

    def retarget(self, app_url: str, public_url: str = "") -> None:
        self.emulator.app_url = app_url.rstrip("/")
        self.emulator.public_url = (public_url or app_url).rstrip("/")

    def close(self) -> None:
        self.thread.call(self.emulator.close())
        self.thread.stop()


def start_in_thread(
    app_url: str = "http://127.0.0.1:8000",
    auth_token: str = "test-plivo-auth-token",
    auth_id: str = DEFAULT_AUTH_ID,
    **kwargs,
) -> RunningPlivoEmulator:
    thread = EmulatorThread("plivo-emulator")

    async def _start() -> PlivoEmulator:
        emulator = PlivoEmulator(app_url, auth_id=auth_id, auth_token=auth_token, **kwargs)
        await emulator.start_rest()
        return emulator

    return RunningPlivoEmulator(thread.call(_start()), thread)
