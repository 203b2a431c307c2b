"""Streaming resampling on soxr's own ResampleStream (a library, not the product's wrapper)."""

from __future__ import annotations

import numpy as np
import soxr


class Resampler:
    """One direction of one stream: keeps soxr's filter state across 20 ms chunks (no clicks)."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, "int16", quality)
        )
        self._odd = b""

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        """Feed 16-bit little-endian PCM; returns what is ready (an odd byte waits for the next call)."""
        pcm = self._odd + pcm
        cut = len(pcm) - len(pcm) % 2
        pcm, self._odd = pcm[:cut], pcm[cut:]
        if self._stream is None:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        return self._stream.resample_chunk(samples, last=last).astype("<i2", copy=False).tobytes()

    def flush(self) -> bytes:
        return self.process(b"", last=True)


def resample(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """A whole buffer at once."""
    resampler = Resampler(in_rate, out_rate)
    return resampler.process(pcm) + resampler.flush()
