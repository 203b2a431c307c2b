"""Caller audio to Gemini: decode, resample to 16 kHz, batch, send.

`push` runs in the transport's coroutine and never awaits: it converts (microseconds) and queues.
A sender task batches 40 ms (configurable) per message, because each SDK message costs ~70 µs.
While Gemini reconnects the queue is bounded: the oldest audio is dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np

from engine.codec import DECODERS, StreamResampler

from .port import WireFormat

log = logging.getLogger(__name__)

GEMINI_INPUT_RATE = 16000
VOICE_PEAK = 1500  # rough speech threshold, for latency metrics only (Gemini does the real VAD)


class Uplink:
    def __init__(
        self,
        wire: WireFormat,
        batch_ms: int,
        on_caller_pcm: Callable[[bytes], None],
        max_queue_ms: int = 2000,
    ) -> None:
        self._decode = DECODERS[wire.encoding]
        self._resampler = StreamResampler(wire.rate, GEMINI_INPUT_RATE)
        self._batch_bytes = GEMINI_INPUT_RATE * batch_ms // 1000 * 2
        self._pending = bytearray()
        self._queue: deque[bytes] = deque(maxlen=max(1, max_queue_ms // batch_ms))
        self._ready = asyncio.Event()
        self._on_caller_pcm = on_caller_pcm
        self._odd = b""
        self.frames_in = 0
        self.dropped = 0
        self.last_voice_at: float | None = None
        self.enabled = True

    def push(self, payload: bytes) -> None:
        """Take caller audio as it came off the wire (any size)."""
        if not payload:
            return
        if self._odd:
            payload, self._odd = self._odd + payload, b""
        pcm = self._decode(payload)
        if len(pcm) % 2:  # odd-sized linear payloads: keep the stray byte for the next one
            pcm, self._odd = pcm[:-1], pcm[-1:]
        self.frames_in += 1
        self._on_caller_pcm(pcm)
        samples = np.frombuffer(pcm, dtype="<i2")
        if samples.size and (int(samples.max()) > VOICE_PEAK or int(samples.min()) < -VOICE_PEAK):
            self.last_voice_at = asyncio.get_running_loop().time()
        self._pending += self._resampler.process(pcm)
        while len(self._pending) >= self._batch_bytes:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(bytes(self._pending[: self._batch_bytes]))
            del self._pending[: self._batch_bytes]
            self._ready.set()

    def clear_backlog(self) -> None:
        """Forget queued audio (after a reconnect, stale speech would confuse the new session)."""
        self.dropped += len(self._queue)
        self._queue.clear()

    async def run(self, send: Callable[[bytes], Awaitable[None]], connected: asyncio.Event) -> None:
        """Send batches while Gemini is connected; wait (dropping the oldest) while it is not."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                await connected.wait()
                chunk = self._queue.popleft()
                try:
                    await send(chunk)
                except Exception:  # noqa: BLE001 - the session is reconnecting; live.py handles it
                    log.debug("audio send failed; waiting for the session", exc_info=True)
                    self._queue.appendleft(chunk)
                    connected.clear()
                # A backlog (after connecting or reconnecting) is sent one chunk per loop turn, so it
                # never holds up other calls' 20 ms frames.
                await asyncio.sleep(0)
