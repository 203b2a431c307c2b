"""Run the Asterisk emulator in a background thread, for tests and the benchmark.

Every method of `RunningAsterisk` is called from the test's thread and runs on the emulator's loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .server import AsteriskEmulator, Channel


class RunningAsterisk:
    def __init__(self, emulator: AsteriskEmulator, loop: asyncio.AbstractEventLoop, thread: threading.Thread):
        self.emulator = emulator
        self.loop = loop
        self.thread = thread

    @property
    def url(self) -> str:
        return self.emulator.url

    @property
    def ari_url(self) -> str:
        return self.emulator.url + "/ari"

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a plain or async function on the emulator's loop and return its result."""

        async def runner():
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(30)

    def place_call(
        self,
        context: str,
        exten: str,
        caller_number: str = "+15551230000",
        app: str = "",
        silence_suppression: bool | None = None,
    ) -> Channel:
        return self.call(self.emulator.place_call, context, exten, caller_number, app, silence_suppression)

    def say(self, chan: Channel, pcm16k: bytes) -> None:
        self.call(chan.phone.say, pcm16k)

    def send_dtmf(self, chan: Channel, digit: str) -> None:
        self.call(self.emulator.send_dtmf, chan, digit)

    def hangup(self, chan: Channel) -> None:
        self.call(self.emulator.caller_hangup, chan)

    def heard(self, chan: Channel) -> bytes:
        return self.call(lambda: bytes(chan.phone.heard))

    def restart_ari(self, down_for: float = 1.0, drop_calls: bool = False) -> None:
        self.call(self.emulator.restart_ari, down_for, drop_calls)

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        message: str,
        times: int = 1,
        param_contains: str = "",
    ) -> None:
        self.call(self.emulator.fail_next, method, path_regex, status, message, times, param_contains)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
        """Poll `predicate` (run on the emulator loop) until truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.call(predicate)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def start_in_thread(
    version: str = "22.10.1",
    users: dict[str, str] | None = None,
    sounds_dir: str | Path | None = None,
    ws_control_format: str = "plain-text",
    port: int = 0,
) -> RunningAsterisk:
    loop = asyncio.new_event_loop()
    emulator = AsteriskEmulator(
        port=port, users=users, version=version, sounds_dir=sounds_dir, ws_control_format=ws_control_format
    )
    started = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(emulator.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            errors.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="asterisk-emulator", daemon=True)
    thread.start()
    started.wait(10)
    if errors:
        raise errors[0]
    return RunningAsterisk(emulator, loop, thread)
