"""A carrier emulator on its own thread, for tests and benchmarks.

emu = start_in_thread(app_url, auth_token=...)      # REST server up: emu.rest_url
call = await emu.run(emu.place(to="+1..."))          # coroutines run on the emulator's loop
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .phone import EmulatorThread


@dataclass
class RunningCarrierEmulator:
    emulator: Any
    thread: EmulatorThread

    @property
    def rest_url(self) -> str:
        return self.emulator.rest_url

    async def run(self, coro):
        """Run a coroutine (e.g. `call.say("hi")`) on the emulator's loop and return its result."""
        return await self.thread.run(coro)

    async def place(self, to: str, from_: str | None = None, **kwargs):
        """Place an inbound call (from the emulator's default caller number unless `from_`)."""
        if from_ is not None:
            kwargs["from_"] = from_

        async def _place():
            return self.emulator.place_call(to, **kwargs)

        return await self.run(_place())

    def retarget(self, app_url: str, public_url: str = "") -> None:
        """Send webhooks to another app server (tests start the emulator before daphne)."""
        self.emulator.app_url = app_url.rstrip("/")
        self.emulator.public_url = (public_url or app_url).rstrip("/")

    def close(self) -> None:
        self.thread.call(self.emulator.close())
        self.thread.stop()


def start_emulator_thread(name: str, make: Callable[[], Any]) -> tuple[Any, EmulatorThread]:
    """Build the emulator (`make`) on a new loop thread and start its REST server there."""
    thread = EmulatorThread(name)

    async def _start():
        emulator = make()
        await emulator.start_rest()
        return emulator

    return thread.call(_start()), thread
