"""Supervisors listening in: the call's two sides mixed and sent to them while anyone listens.

Nothing here exists while nobody listens: the call's frame hooks test one attribute (`handle.tap`,
None) and go on. The first LISTEN sets a `Mix` there and starts one publisher task; every
LISTEN_CHUNK_MS it mixes what the caller said and what the caller heard (agent or supervisor) at
the line's rate, resamples it to 16 kHz and sends it to the listeners group. The last listener's
UNLISTEN (or its expiry: the dashboard repeats LISTEN while it listens) removes both again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from calls.supervision import (
    AUDIO,
    LISTEN_CHUNK_MS,
    LISTEN_RATE,
    LISTENER_EXPIRY_SECONDS,
    listeners_group_for,
)
from engine.codec import StreamResampler

if TYPE_CHECKING:
    from .call import CallHandle

log = logging.getLogger(__name__)

MAX_BACKLOG_CHUNKS = 4  # a side further ahead (a burst) loses its oldest audio: listeners stay live
STALL_S = 0.5  # the loop stalled this long: restart the clock rather than send a burst


class Mix:
    """The caller's and the agent's audio (wire-rate PCM16) waiting to be mixed, one chunk at a time."""

    def __init__(self, rate: int) -> None:
        self._chunk = rate * LISTEN_CHUNK_MS // 1000 * 2
        self._caller = bytearray()
        self._agent = bytearray()
        self._resampler = StreamResampler(rate, LISTEN_RATE)
        self._out = bytearray()  # resampled, waiting to make a whole chunk
        self._out_chunk = LISTEN_RATE * LISTEN_CHUNK_MS // 1000 * 2

    def caller(self, pcm: bytes) -> None:
        self._caller += pcm
        self._trim(self._caller)

    def agent(self, pcm: bytes) -> None:
        self._agent += pcm
        self._trim(self._agent)

    def _trim(self, side: bytearray) -> None:
        if len(side) > MAX_BACKLOG_CHUNKS * self._chunk:
            del side[: len(side) - 2 * self._chunk]

    def _take(self, side: bytearray) -> np.ndarray:
        part = bytes(side[: self._chunk])
        del side[: self._chunk]
        samples = np.zeros(self._chunk // 2, dtype=np.int32)
        samples[: len(part) // 2] = np.frombuffer(part, dtype="<i2")
        return samples

    def take(self) -> bytes:
        """One chunk of both sides summed (a side that sent less is padded with silence), at 16 kHz:
        LISTEN_CHUNK_MS exactly, or nothing while the resampler's first output is still short."""
        mixed = np.clip(self._take(self._caller) + self._take(self._agent), -32768, 32767).astype("<i2")
        self._out += self._resampler.process(mixed.tobytes())
        if len(self._out) < self._out_chunk:
            return b""
        chunk = bytes(self._out[: self._out_chunk])
        del self._out[: self._out_chunk]
        return chunk


class Listeners:
    """Who listens to one call (their channels, last refreshed when), and the task that feeds them."""

    def __init__(self, handle: CallHandle, layer: Any) -> None:
        self.handle = handle
        self.layer = layer
        self.group = listeners_group_for(handle.call_id)
        self.channels: dict[str, float] = {}
        self.chunks_sent = 0
        self._task: asyncio.Task | None = None

    def add(self, channel: str) -> bool:
        """A listener started or refreshed; True when it is new."""
        loop = asyncio.get_running_loop()
        new = channel not in self.channels
        self.channels[channel] = loop.time()
        if self._task is None or self._task.done():
            self.handle.tap = Mix(self.handle.port.wire.rate)
            self._task = loop.create_task(self._publish(), name="listeners")
        return new

    def drop(self, channel: str) -> None:
        self.channels.pop(channel, None)
        if not self.channels:
            self.stop()

    def stop(self) -> None:
        self.channels.clear()
        self.handle.tap = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _expire(self, now: float) -> None:
        for channel, seen in list(self.channels.items()):
            if now - seen > LISTENER_EXPIRY_SECONDS:
                log.info("a listener stopped refreshing: dropped")
                del self.channels[channel]

    async def _publish(self) -> None:
        loop = asyncio.get_running_loop()
        period = LISTEN_CHUNK_MS / 1000
        due = loop.time() + period
        try:
            while True:
                await asyncio.sleep(max(0.0, due - loop.time()))
                now = loop.time()
                due = now + period if now - due > STALL_S else due + period
                self._expire(now)
                mix = self.handle.tap
                if not self.channels or mix is None:
                    break
                pcm = mix.take()
                if not pcm:
                    continue
                try:
                    await self.layer.group_send(self.group, {"type": AUDIO, "pcm": pcm})
                    self.chunks_sent += 1
                except Exception:  # noqa: BLE001 - Redis blinked: listeners miss a chunk, the call goes on
                    log.debug("sending audio to listeners failed", exc_info=True)
        finally:
            if not self.channels:
                self.handle.tap = None
