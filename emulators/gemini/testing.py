"""Run the Gemini emulator inside a test process and point the real google-genai SDK at it.

emu = start_in_thread()                      # own event loop in a daemon thread, free port
client = genai.Client(api_key=emu.api_key, http_options=emu.http_options())
...
emu.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .faults import Faults
from .profiles import Profile, get_profile
from .scenario import Scenario
from .server import EmulatorServer
from .session import SessionRecord


class RunningEmulator:
    """A started emulator: where it is, how to trust it, and what clients sent it."""

    def __init__(
        self,
        server: EmulatorServer,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread | None,
        tmpdir: tempfile.TemporaryDirectory[str] | None,
    ) -> None:
        self.server = server
        self._loop = loop
        self._thread = thread
        self._tmpdir = tmpdir
        self.host = "127.0.0.1"
        self.port = server.port
        self.base_url = f"https://{self.host}:{self.port}"
        self.api_key = server.api_key
        self.ca_file = server.ca_file

    @property
    def faults(self) -> Faults:
        """Mutable at runtime: e.g. emu.faults.drop_mid_turn = True."""
        return self.server.faults

    @property
    def sessions(self) -> list[SessionRecord]:
        """One record per WebSocket connection, in arrival order."""
        return self.server.sessions

    @contextlib.contextmanager
    def use_profile(self, name: str) -> Iterator[Profile]:
        """Sessions that start inside the block use profile `name` (a shared emulator's per-test
        opt-in, e.g. "instant" for tests that do not depend on reply pacing); restored after."""
        before = self.server.profile
        self.server.profile = dataclasses.replace(
            get_profile(name), default_max_sessions=before.default_max_sessions
        )
        try:
            yield self.server.profile
        finally:
            self.server.profile = before

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the emulator's CA (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def http_options(self, api_version: str = "v1beta", **extra: Any) -> Any:
        """google.genai.types.HttpOptions for genai.Client(api_key=..., http_options=...)."""
        from google.genai import types

        return types.HttpOptions(
            base_url=self.base_url,
            api_version=api_version,
            async_client_args={"ssl": self.ssl_context()},
            client_args={"verify": self.ssl_context()},
            **extra,
        )

    def client(self, api_version: str = "v1beta", api_key: str | None = None) -> Any:
        """A genai.Client already pointed at (and trusting) the emulator."""
        from google import genai

        return genai.Client(api_key=api_key or self.api_key, http_options=self.http_options(api_version))

    def close(self) -> None:
        """Stop listening, end the loop and thread (when started with start_in_thread)."""
        if self._thread is not None:
            if self._loop.is_running():
                asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    async def aclose(self) -> None:
        """Stop an emulator started in the current loop with start()."""
        await self.server.stop()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make_server(
    profile: str | Profile,
    scenario: str | Path | dict[str, Any] | Scenario | None,
    api_key: str,
    max_sessions: int | None,
    ca_file: str | Path | None,
    overrides: dict[str, Any],
) -> tuple[EmulatorServer, tempfile.TemporaryDirectory[str] | None]:
    tmpdir = None
    if ca_file is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="gemini-emulator-")
        ca_file = Path(tmpdir.name) / "ca.pem"
    server = EmulatorServer(
        api_key=api_key,
        ca_file=ca_file,
        profile=profile,
        scenario=scenario,
        max_sessions=max_sessions,
        **overrides,
    )
    return server, tmpdir


async def start(
    profile: str | Profile = "fast",
    scenario: str | Path | dict[str, Any] | Scenario | None = None,
    api_key: str = "test-key",
    max_sessions: int | None = None,
    ca_file: str | Path | None = None,
    **overrides: Any,
) -> RunningEmulator:
    """Start the emulator on the running event loop (close with `await emu.aclose()`)."""
    server, tmpdir = _make_server(profile, scenario, api_key, max_sessions, ca_file, overrides)
    await server.start()
    return RunningEmulator(server, asyncio.get_running_loop(), None, tmpdir)


def start_in_thread(
    profile: str | Profile = "fast",
    scenario: str | Path | dict[str, Any] | Scenario | None = None,
    api_key: str = "test-key",
    max_sessions: int | None = None,
    ca_file: str | Path | None = None,
    **overrides: Any,
) -> RunningEmulator:
    """Start the emulator on its own event loop in a daemon thread, on a free port.

    Usable from sync tests, async tests (any loop) and a Django/daphne test process alike.
    `overrides` replace Profile fields, e.g. send_speed=10 or hold_factor=1.0.
    """
    server, tmpdir = _make_server(profile, scenario, api_key, max_sessions, ca_file, overrides)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="gemini-emulator", daemon=True)
    thread.start()
    ready.wait(timeout=60)
    if failure:
        raise failure[0]
    return RunningEmulator(server, loop, thread, tmpdir)
