"""The one audio codec module: G.711 u-law / A-law and streaming resampling.

Transports call these at their boundary; the engine only sees 16-bit little-endian linear PCM
(16 kHz towards Gemini, 24 kHz from it). G.711 is audioop's, in C: the standard library's up to
Python 3.12, the `audioop-lts` package (the same module, kept for 3.13 on) after that. Every caller
frame is decoded and every agent frame encoded, 50 and up to 50 times a second per call: audioop
decodes a 20 ms frame in about a tenth of the time numpy's table lookup took (its `frombuffer`,
`take` and `tobytes` are three array allocations per frame, issue 16). The tests check it for every
input value against the emulators' G.711, computed arithmetically from the standard's segment rules.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable

import numpy as np
import soxr

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # the standard library's, up to 3.12
    import audioop

if sys.byteorder != "little":  # audioop reads and writes samples in the machine's byte order
    raise ImportError("engine.codec needs a little-endian machine: its PCM is 16-bit little-endian")


def ulaw_to_pcm(data: bytes) -> bytes:
    """Decode u-law bytes to 16-bit little-endian PCM (twice as many bytes)."""
    return audioop.ulaw2lin(data, 2)


def pcm_to_ulaw(pcm: bytes) -> bytes:
    """Encode 16-bit little-endian PCM to u-law. A trailing odd byte is ignored."""
    return audioop.lin2ulaw(pcm[:-1] if len(pcm) % 2 else pcm, 2)


def alaw_to_pcm(data: bytes) -> bytes:
    return audioop.alaw2lin(data, 2)


def pcm_to_alaw(pcm: bytes) -> bytes:
    return audioop.lin2alaw(pcm[:-1] if len(pcm) % 2 else pcm, 2)


DECODERS = {"ulaw": ulaw_to_pcm, "alaw": alaw_to_pcm, "pcm": bytes}
ENCODERS = {"ulaw": pcm_to_ulaw, "alaw": pcm_to_alaw, "pcm": bytes}


def loudness_test(encoding: str, peak: int) -> Callable[[bytes], bool]:
    """A test of whether any sample of a wire payload goes past ±`peak`.

    For G.711 it reads the encoded bytes: deleting every code that decodes within ±peak leaves
    nothing exactly when no sample is louder. One C call per frame, where decoding and two numpy
    reductions cost about 3 µs on each of the 50 frames a second of every call.
    """
    if encoding != "pcm":
        decoded = np.frombuffer(DECODERS[encoding](bytes(range(256))), dtype="<i2")
        quiet = bytes(code for code in range(256) if -peak <= int(decoded[code]) <= peak)
        return lambda payload: bool(payload.translate(None, quiet))

    def loud_pcm(pcm: bytes) -> bool:
        samples = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)
        return bool(samples.size) and (int(samples.max()) > peak or int(samples.min()) < -peak)

    return loud_pcm


# ---------------------------------------------------------------------------------------------------
# Streaming resampling
@functools.cache
def _decimation_filter(factor: int, taps: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The low-pass kernel and its `factor` phases, built once per factor: every reply starts a new
    `Decimator`, and building the window and sinc each time cost 2 % of a media process at 30 calls."""
    n = np.arange(taps) - (taps - 1) / 2
    cutoff = 0.45 / factor  # of the input rate
    kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(taps, 8.0)
    kernel = kernel / kernel.sum()  # float64: np.correlate is quickest on it
    kernel.setflags(write=False)  # shared by every call's Decimator
    # Phase p of the kernel: taps p, p + factor, ... (symmetric, so correlating is convolving).
    return kernel, [kernel[p::factor] for p in range(factor)]


class Decimator:
    """Downsampling by a whole factor (Gemini's 24 kHz to a phone line's 8 kHz), with no block delay.

    soxr's stream releases its output in blocks of about 60 ms (nothing comes out of the first 60 ms
    fed in 20 ms pieces, then 61 ms at once), which held back the first words of every reply. This is
    a linear-phase low-pass FIR (Kaiser-windowed sinc, cut-off at 0.45 of the output rate, about 80 dB
    down past the output's Nyquist) keeping every `factor`-th sample, its history carried across
    chunks: each chunk's output comes out with it, but for the last half filter (2.6 ms at 24 kHz).
    """

    TAPS_PER_FACTOR = 42

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self._kernel, self._phases = _decimation_filter(factor, self.TAPS_PER_FACTOR * factor + 1)
        taps = len(self._kernel)
        self._delay = (taps - 1) // 2
        self._history = np.zeros(taps - 1)
        self._lead = 0  # next output's centre, in input samples from the next chunk's start

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """Output aligned with the input (sample j at input sample factor * j), as soxr's is."""
        if last:  # push the filter's delay out with zeros: the end of the stream is heard whole
            samples = np.concatenate([samples, np.zeros(self._delay, dtype=np.int16)])
        if not samples.size:
            return samples.astype(np.int16)
        x = np.concatenate([self._history, samples])
        out = self._kept(x, self._lead + self._delay)
        self._history = x[-(len(self._kernel) - 1) :]
        self._lead += out.size * self.factor - samples.size
        if last:
            self._lead = 0
            self._history[:] = 0
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    def _kept(self, x: np.ndarray, start: int) -> np.ndarray:
        """Points start, start + factor, ... of the full 'valid' convolution of x (point i is centred
        on input sample i - delay of this chunk), computed in polyphase: each of the `factor` phases of
        the kernel runs over its own phase of x, so no output that is thrown away is computed (a third
        of the work of convolving everything at 24 to 8 kHz)."""
        f, taps = self.factor, len(self._kernel)
        n = max(0, -(-(len(x) - taps + 1 - start) // f))
        out = np.zeros(n)
        if n:
            for p, h in enumerate(self._phases):
                out += np.correlate(x[start + p :: f][: n + len(h) - 1], h, "valid")
        return out

    def clear(self) -> None:
        self._history[:] = 0
        self._lead = 0


class StreamResampler:
    """Resample a stream of 16-bit PCM chunks, carrying filter state across chunks.

    One instance per direction per call: resampling each 20 ms frame on its own would restart the
    filter at every frame edge and click 50 times a second. Whole-factor downsampling (24 to 8 kHz,
    16 to 8 kHz) uses `Decimator` (no block delay); every other ratio soxr's stream.
    """

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._passthrough = in_rate == out_rate
        self._stream: soxr.ResampleStream | Decimator | None = None
        if in_rate > out_rate and in_rate % out_rate == 0:
            self._stream = Decimator(in_rate // out_rate)
        elif not self._passthrough:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
        self._odd = b""

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        """Feed a chunk; return whatever output is ready (its length varies a little per chunk)."""
        if self._odd:
            pcm = self._odd + pcm
            self._odd = b""
        if len(pcm) % 2:
            pcm, self._odd = pcm[:-1], pcm[-1:]
        if self._passthrough:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        if isinstance(self._stream, Decimator):
            return self._stream.process(samples, last).astype("<i2", copy=False).tobytes()
        return self._stream.resample_chunk(samples, last=last).astype("<i2", copy=False).tobytes()

    def flush(self) -> bytes:
        """Return the samples still held in the filter (end of stream)."""
        return self.process(b"", last=True)

    def reset(self) -> None:
        """Forget buffered audio (after a barge-in, the rest of the old reply must not leak out)."""
        if not self._passthrough:
            self._stream.clear()
        self._odd = b""


def resample(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """Resample a whole recording at once (a prompt, a brief), by soxr at its best quality.

    For audio that is all there before it is played, latency does not matter and soxr's long
    filter is the better choice; streams use `StreamResampler`.
    """
    if in_rate == out_rate:
        return pcm
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    return soxr.resample(samples, in_rate, out_rate, quality="VHQ").astype("<i2", copy=False).tobytes()


def frame_bytes(rate: int, ms: int = 20, sample_width: int = 2) -> int:
    """Bytes in one frame of `ms` milliseconds at `rate` Hz."""
    return rate * ms // 1000 * sample_width
