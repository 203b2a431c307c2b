"""Per-stream limits on what a carrier's media socket may send, and warnings that cannot flood the log.

A real Twilio or Plivo media frame is about 300 bytes of JSON (160 bytes of u-law), 50 a second.
Every call of a daphne process shares one event loop, so one stream sending 700 KB frames or
thousands of frames a second would stall everyone else's audio. `FrameGate` runs before any
parsing and costs a length check, a clock read and a few additions per frame; what it refuses is
counted (the call's `frames_dropped`) and reported through `RateLimitedWarnings`, which writes one
line per kind per interval with the count of what it held back.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

OVERSIZED = "oversized"
OVER_RATE = "over rate"
WARNING_INTERVAL_SECONDS = 10.0


class FrameGate:
    """Frame size cap and token-bucket rate cap for one stream.

    `rate` frames a second refill the bucket up to `burst`: a carrier catching up after a network
    stall (a burst of queued frames) passes; a stream that keeps sending faster than `rate` loses
    the excess. A limit of 0 turns that check off.
    """

    def __init__(
        self, max_bytes: int, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_bytes = max_bytes
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()
        self.dropped: Counter[str] = Counter()

    def admit(self, size: int) -> str | None:
        """None when the frame may be handled; otherwise why it was dropped (and counted)."""
        if self.max_bytes and size > self.max_bytes:
            self.dropped[OVERSIZED] += 1
            return OVERSIZED
        if self.rate:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1.0:
                self.dropped[OVER_RATE] += 1
                return OVER_RATE
            self._tokens -= 1.0
        return None


class RateLimitedWarnings:
    """At most one warning line per kind per `interval` seconds; the ones in between are counted
    and the count rides on the next line of that kind (and in `held_back` for an end-of-call line)."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = WARNING_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._next_at: dict[str, float] = {}
        self.held_back: Counter[str] = Counter()

    def warn(self, kind: str, message: str, *args: object) -> None:
        now = self._clock()
        if now < self._next_at.get(kind, float("-inf")):
            self.held_back[kind] += 1
            return
        self._next_at[kind] = now + self._interval
        held = self.held_back.pop(kind, 0)
        if held:
            self._log.warning(
                message + " (and %d more like it in the last %.0f s)", *args, held, self._interval
            )
        else:
            self._log.warning(message, *args)
