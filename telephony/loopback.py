"""The loopback transport: an in-process phone line and a simulated caller, for `manage.py democall`,
tests and benchmarks.

`LoopbackPort` is a MediaPort whose "carrier" is this process: it keeps what the agent said (as
linear PCM) and the commands it received. `SimulatedCaller` speaks flite speech into a call at
real-time pace, followed by silence, like a phone would.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.codec import DECODERS, ENCODERS, resample
from engine.port import TransferOffer, TransferOutcome, WireFormat

# The person a warm transfer dials, by the destination's last two digits (the convention of every
# emulator, docs/emulators.md): 01 accepts, 02 declines, 03 never answers, 04 is busy.
PERSON_ANSWERS_S = 0.5


@dataclass
class LoopbackPort:
    wire: WireFormat = field(default_factory=lambda: WireFormat("ulaw", 8000))
    supports_marks: bool = False
    audio: bytearray = field(default_factory=bytearray)  # agent audio as linear PCM at wire rate
    events: list[tuple[float, str, Any]] = field(default_factory=list)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    frames: int = 0
    frame_times: list[float] = field(default_factory=list)
    bridged_to: str = ""  # a warm transfer's person the caller was handed to

    def _t(self) -> float:
        return asyncio.get_running_loop().time()

    async def send_audio(self, payload: bytes) -> None:
        self.frames += 1
        self.frame_times.append(self._t())
        self.audio += DECODERS[self.wire.encoding](payload)

    async def clear(self) -> None:
        self.events.append((self._t(), "clear", len(self.audio)))

    async def mark(self, name: str) -> None:
        self.events.append((self._t(), "mark", name))

    async def hangup(self, reason: str) -> None:
        self.events.append((self._t(), "hangup", reason))
        self.hung_up.set()

    async def transfer(self, destination: str) -> dict[str, Any]:
        self.events.append((self._t(), "transfer", destination))
        return {"ok": True}

    async def warm_transfer(self, offer: TransferOffer) -> TransferOutcome:
        """The in-process person: answers (or not) per the destination convention above, "hears" the
        brief (kept in `events`), and on acceptance the caller is "bridged" (`bridged_to`)."""
        self.events.append((self._t(), "warm_transfer", offer))
        ending = offer.destination[-2:]
        if ending == "04":
            return TransferOutcome("busy", "the person's line is busy")
        if ending == "03":
            await asyncio.sleep(offer.ring_seconds)
            return TransferOutcome("no-answer", f"no answer after {offer.ring_seconds:g} s")
        await asyncio.sleep(PERSON_ANSWERS_S)
        self.events.append((self._t(), "person_heard", offer.brief))
        if ending == "01":
            self.bridged_to = offer.destination
            return TransferOutcome("accepted")
        if ending == "02":
            return TransferOutcome("declined", "the person pressed 2")
        return TransferOutcome("failed", f"nobody is modelled at {offer.destination}")

    def seconds(self) -> float:
        return len(self.audio) / 2 / self.wire.rate


FLITE_MISSING = (
    "flite is not installed: the offline voice of the simulated callers and the emulators needs it. "
    "Install it with: sudo apt-get install flite"
)


def check_flite() -> None:
    """Say what to install, up front, rather than fail with FileNotFoundError mid-call."""
    if shutil.which("flite") is None:
        raise RuntimeError(FLITE_MISSING)


@functools.lru_cache(maxsize=64)
def flite_pcm(text: str, rate: int = 8000) -> bytes:
    """`text` spoken by flite (the voice pocketsphinx hears best), as 16-bit PCM at `rate`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "say.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
        with wave.open(str(path), "rb") as wav:
            src, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    return resample(pcm, src, rate)


class SimulatedCaller:
    """Feeds speech and silence into a CallHandle in 20 ms frames at real-time pace."""

    def __init__(self, handle, wire: WireFormat) -> None:
        self.handle = handle
        self.wire = wire
        self._encode = ENCODERS[wire.encoding]

    async def _stream(self, pcm: bytes) -> None:
        loop = asyncio.get_running_loop()
        step = self.wire.rate // 50 * 2
        start = loop.time()
        for n, i in enumerate(range(0, len(pcm), step)):
            frame = pcm[i : i + step].ljust(step, b"\x00")
            self.handle.push_audio(self._encode(frame))
            delay = start + (n + 1) * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    async def play(self, pcm: bytes) -> None:
        """Linear PCM at the line's rate, into the call at real-time pace."""
        await self._stream(pcm)

    async def say(self, text: str, then_silence: float = 1.5) -> None:
        pcm = await asyncio.get_running_loop().run_in_executor(None, flite_pcm, text, self.wire.rate)
        await self._stream(pcm)
        await self.silence(then_silence)

    async def silence(self, seconds: float) -> None:
        await self._stream(b"\x00" * int(self.wire.rate * seconds) * 2)

    async def wait_for_agent(
        self, port: LoopbackPort, quiet: float = 0.8, timeout: float = 20.0, since: int | None = None
    ) -> bool:
        """Listen (streaming silence, as a phone does) until the agent has spoken and then been quiet
        for `quiet` seconds: a polite caller does not talk over the end of a turn. False if the line
        hung up or `timeout` passed first. The agent's frames arrive paced at 20 ms, so a gap means
        its turn is over, not that a burst is late. `since`: the frame count before the caller spoke,
        so a reply that starts while the caller is still finishing counts as the reply."""
        loop = asyncio.get_running_loop()
        frames_before = port.frames if since is None else since
        deadline = loop.time() + timeout
        while loop.time() < deadline and not port.hung_up.is_set():
            await self.silence(0.1)
            if port.frames > frames_before and loop.time() - port.frame_times[-1] >= quiet:
                return True
        return False
