"""The stand-in's 8 kHz -> 16 kHz upsampler, computed in polyphase form, gives exactly the samples of
its definition: the windowed-sinc kernel over the zero-stuffed input, history carried across chunks."""

from __future__ import annotations

import numpy as np
import pytest

from emulators.gemini.speech import StreamResampler, _Interpolator


@pytest.mark.parametrize("factor", [2, 3])
def test_polyphase_output_is_the_zero_stuffed_convolution_chunk_by_chunk(factor):
    """Thrown at it: random full-scale chunks of 160, 320, 800, 1 and 7 samples in a row. Holds: each
    chunk's output equals convolving the zero-stuffed stream (with the history) by the kernel, sample
    for sample, clipped to 16 bits, and comes out with its chunk (as many samples times the factor)."""
    upsampler = _Interpolator(factor)
    history = np.zeros(upsampler.TAPS_PER_FACTOR * factor)
    rng = np.random.default_rng(7)
    for size in (160, 320, 800, 1, 7, 160):
        chunk = rng.integers(-32768, 32767, size, endpoint=True).astype(np.int16)
        stuffed = np.zeros(size * factor)
        stuffed[::factor] = chunk
        x = np.concatenate([history, stuffed])
        history = x[x.size - history.size :]
        expected = np.clip(np.rint(np.convolve(x, upsampler.kernel, "valid")), -32768, 32767)
        assert np.array_equal(upsampler.process(chunk), expected.astype(np.int16))


def test_a_phone_line_upsampled_keeps_its_tone_and_level():
    """Thrown at it: a 1 kHz tone at 8 kHz in 20 ms chunks. Holds: at 16 kHz, once the filter has filled,
    it is the same tone at the same level (within 1 %), so the stand-in's detector hears a caller as
    loud as the caller is."""
    resampler = StreamResampler(8000, 16000)
    t = np.arange(8000) / 8000
    tone = (10000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    out = np.frombuffer(
        b"".join(resampler.feed(tone[i : i + 160].tobytes()) for i in range(0, 8000, 160)), "<i2"
    )
    assert out.size == 16000
    steady = out[1000:].astype(float)
    assert abs(np.sqrt(np.mean(steady**2)) - 10000 / np.sqrt(2)) < 0.01 * 10000 / np.sqrt(2)
    spectrum = np.abs(np.fft.rfft(steady))
    assert abs(np.argmax(spectrum) * 16000 / steady.size - 1000) < 2
