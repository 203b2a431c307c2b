"""The check beside the recogniser: distorted audio the grammar still accepts must not pass as heard.

The agent's line goes the way a call sends it (flite at 24 kHz -> 8 kHz -> G.711 u-law -> back),
then is distorted the way a codec or framing bug would. The grammar pass (pocketsphinx with the
agent's lines as the only choices) still "hears" the line in some of these; `heard_line` must not.
The whole path through a real call is covered by the call tests (tests/asterisk/test_calls.py,
tests/twilio/test_call.py, tests/plivo/test_call.py), which assert the same `heard_line`.
"""

from __future__ import annotations

import numpy as np
import pytest

from emulators.gemini.likeness import CLIPPED_MAX, LIKENESS_FLOOR, clipped_share, likeness
from emulators.gemini.speech import flite_pcm, normalise_words, recognise
from emulators.wire import g711
from emulators.wire.resample import resample
from tests.support.hearing import AGENT_LINES, HELLO_REPLY, heard_line

pytestmark = pytest.mark.slow


def telephone(text: str) -> bytes:
    """u-law bytes of the agent saying `text`, as a carrier leg carries it."""
    return g711.encode_ulaw(resample(flite_pcm(text, 24000), 24000, 8000))


def pcm(ulaw: bytes) -> bytes:
    return g711.decode_ulaw(ulaw)


def grammar_only(audio8k: bytes) -> str:
    return recognise(resample(audio8k, 8000, 16000), AGENT_LINES, fallback=False)


def fooled(heard: str) -> bool:
    """The grammar pass took the audio for one of the agent's lines. Which one may vary with what the
    shared decoder heard before (its cepstral mean adapts across utterances), so any line counts."""
    return heard in {normalise_words(line) for line in AGENT_LINES}


def with_noise(audio: bytes, snr_db: float) -> bytes:
    x = np.frombuffer(audio, dtype="<i2").astype(np.float64)
    noise = np.random.default_rng(7).normal(0, x.std() * 10 ** (-snr_db / 20), x.size)
    return np.clip(x + noise, -32768, 32767).astype("<i2").tobytes()


def flip_bit(ulaw: bytes, bit: int, share: float) -> bytes:
    data = np.frombuffer(ulaw, dtype=np.uint8).copy()
    hit = np.random.default_rng(7).random(data.size) < share
    data[hit] ^= np.uint8(1 << bit)
    return data.tobytes()


def white_noise(samples: int) -> bytes:
    return np.random.default_rng(7).normal(0, 3000, samples).astype("<i2").tobytes()


def clipped(audio: bytes, gain: float) -> bytes:
    x = np.frombuffer(audio, dtype="<i2").astype(np.float64) * gain
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def test_the_clean_line_is_heard():
    audio = pcm(telephone(HELLO_REPLY))
    assert heard_line(audio, 8000) == HELLO_REPLY
    assert likeness(audio, HELLO_REPLY, 8000) > 0.95
    # ...and a different line is not taken for it on the signal alone
    other = pcm(telephone("No problem. Is there anything else I can help you with?"))
    assert likeness(other, HELLO_REPLY, 8000) < 0.6


@pytest.mark.parametrize(
    "distort",
    [
        pytest.param(lambda u: with_noise(pcm(u), 15), id="white-noise-15dB"),
        pytest.param(lambda u: pcm(flip_bit(u, 2, 1.0)), id="bit-flipped-ulaw"),  # a mantissa bit, every byte
    ],
)
def test_distortion_the_grammar_accepts_is_refused(distort):
    audio = distort(telephone(HELLO_REPLY))
    assert fooled(grammar_only(audio))  # the grammar alone takes it for an agent line
    assert likeness(audio, HELLO_REPLY, 8000) < LIKENESS_FLOOR
    with pytest.raises(AssertionError, match="not an agent line"):
        heard_line(audio, 8000)


def test_clipping_the_grammar_and_the_envelope_accept_is_refused():
    """Overdriven 3x (10 dB): the words and the envelope survive, the waveform's plateaus give it away."""
    audio = clipped(pcm(telephone(HELLO_REPLY)), 3)
    assert fooled(grammar_only(audio))
    assert likeness(audio, HELLO_REPLY, 8000) > LIKENESS_FLOOR
    assert clipped_share(audio) > CLIPPED_MAX > clipped_share(pcm(telephone(HELLO_REPLY))) * 10
    with pytest.raises(AssertionError, match="not an agent line"):
        heard_line(audio, 8000)


@pytest.mark.parametrize(
    "distort",
    [
        pytest.param(lambda u: clipped(pcm(u), 30), id="heavy-clipping"),
        pytest.param(lambda u: pcm(flip_bit(u, 7, 0.3)), id="sign-flipped-ulaw"),
        pytest.param(lambda u: white_noise(len(u)), id="white-noise"),
    ],
)
def test_heavy_distortion_is_refused(distort):
    with pytest.raises(AssertionError, match="not an agent line"):
        heard_line(distort(telephone(HELLO_REPLY)), 8000)
