import asyncio

import pytest

from engine import CallRequest, start_call
from telephony.loopback import LoopbackPort, SimulatedCaller

from .orders import orders  # noqa: F401 - the fixture


class Line:
    """One in-process call: the port (what the caller hears) and the simulated caller."""

    def __init__(self, handle, port: LoopbackPort):
        self.handle = handle
        self.port = port
        self.caller = SimulatedCaller(handle, port.wire)

    async def wait_for_audio(self, seconds: float = 0.5, timeout: float = 15.0) -> None:
        """Wait until the agent has played `seconds` of audio more than now."""
        target = self.port.seconds() + seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.port.seconds() < target:
            assert loop.time() < deadline, "the agent did not speak"
            await self.caller.silence(0.1)

    async def wait_quiet(self, quiet: float = 0.6, timeout: float = 20.0) -> None:
        """Stream silence until the agent has been quiet for `quiet` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await self.caller.silence(0.1)
            last = self.port.frame_times[-1] if self.port.frame_times else 0
            if self.port.frame_times and loop.time() - last > quiet:
                return
        raise AssertionError("the agent never stopped talking")

    async def hang_up_and_wait(self) -> None:
        self.handle.remote_hangup("test caller hung up")
        await self.handle.wait()


@pytest.fixture
def dial(gemini):
    async def _dial(to: str = "engine", wire=None, **request) -> Line:
        port = LoopbackPort() if wire is None else LoopbackPort(wire=wire)
        handle = await start_call(
            CallRequest(carrier="sip", from_number="+15550001111", to_number=to, **request), port
        )
        return Line(handle, port)

    return _dial
