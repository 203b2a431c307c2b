"""The codec module against the emulators' G.711 (computed from the standard's segment rules, not
audioop's tables), and the streaming resampler's frame edges."""

import math

import numpy as np
import pytest

from emulators.wire import g711
from engine import codec

ALL_PCM = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_BYTES = bytes(range(256))


@pytest.mark.parametrize(
    ("ours", "rule"),
    [(codec.pcm_to_ulaw, g711.encode_ulaw), (codec.pcm_to_alaw, g711.encode_alaw)],
    ids=["ulaw", "alaw"],
)
def test_encode_matches_the_standards_rule_for_all_65536_samples(ours, rule):
    assert ours(ALL_PCM) == rule(ALL_PCM)


@pytest.mark.parametrize(
    ("ours", "rule"),
    [(codec.ulaw_to_pcm, g711.decode_ulaw), (codec.alaw_to_pcm, g711.decode_alaw)],
    ids=["ulaw", "alaw"],
)
def test_decode_matches_the_standards_rule_for_all_256_bytes(ours, rule):
    assert ours(ALL_BYTES) == rule(ALL_BYTES)


def test_round_trip_is_stable_after_one_pass():
    once = codec.ulaw_to_pcm(codec.pcm_to_ulaw(ALL_PCM))
    assert codec.ulaw_to_pcm(codec.pcm_to_ulaw(once)) == once
    once = codec.alaw_to_pcm(codec.pcm_to_alaw(ALL_PCM))
    assert codec.alaw_to_pcm(codec.pcm_to_alaw(once)) == once


def test_odd_trailing_byte_is_ignored_not_crashing():
    assert len(codec.pcm_to_ulaw(b"\x01\x02\x03")) == 1


def _sweep(rate: int, seconds: float, f0: float, f1: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * math.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    return (np.sin(phase) * 12000).astype("<i2")


@pytest.mark.parametrize(
    ("src", "dst", "f1"), [(8000, 16000, 3500), (24000, 8000, 3500), (24000, 16000, 7000)]
)
def test_streaming_resample_has_no_clicks_at_20ms_frame_edges(src, dst, f1):
    """A sine sweep resampled in 20 ms frames equals the one-shot result: no discontinuity at edges."""
    sweep = _sweep(src, 1.0, 100, f1)
    framed = codec.StreamResampler(src, dst)
    step = src // 50
    out = b"".join(framed.process(sweep[i : i + step].tobytes()) for i in range(0, len(sweep), step))
    out += framed.flush()
    whole = codec.StreamResampler(src, dst)
    reference = whole.process(sweep.tobytes()) + whole.flush()
    a = np.frombuffer(out, dtype="<i2").astype(np.int32)
    b = np.frombuffer(reference, dtype="<i2").astype(np.int32)
    assert abs(len(a) - len(b)) <= 2
    n = min(len(a), len(b))
    assert len(a) == pytest.approx(len(sweep) * dst / src, abs=4)
    # Per-sample difference stays at rounding level; a restart at each frame edge would differ by thousands.
    assert np.max(np.abs(a[:n] - b[:n])) <= 2
    # And the largest sample-to-sample jump is what a smooth sweep has, not a click.
    assert np.max(np.abs(np.diff(a[: n - 50]))) < 12000 * 2 * math.pi * f1 / dst * 1.2


def test_naive_per_frame_resampling_would_click():
    """Control: restarting the filter at each frame (what StreamResampler avoids) does differ."""
    sweep = _sweep(8000, 0.5, 100, 3500)
    naive = b""
    for i in range(0, len(sweep), 160):
        r = codec.StreamResampler(8000, 16000)
        naive += r.process(sweep[i : i + 160].tobytes()) + r.flush()
    whole = codec.StreamResampler(8000, 16000)
    ref = whole.process(sweep.tobytes()) + whole.flush()
    a = np.frombuffer(naive, dtype="<i2").astype(np.int32)
    b = np.frombuffer(ref, dtype="<i2").astype(np.int32)
    n = min(len(a), len(b))
    assert np.max(np.abs(a[:n] - b[:n])) > 1000


def test_gemini_audio_to_a_phone_line_comes_out_with_each_chunk_and_without_aliasing():
    """24 kHz (Gemini) to 8 kHz (a phone line) in 20 ms chunks, as a reply streams in. Holds: every
    chunk gives its 20 ms back at once (soxr's stream gave nothing for the first 60 ms, then 61 ms in
    one block, delaying the first words of every reply), but for the first chunk's 2.6 ms of filter;
    a 1 kHz tone passes at full level and a 5 kHz one, which would fold to 3 kHz, is 60 dB down."""
    resampler = codec.StreamResampler(24000, 8000)
    chunk = 480  # 20 ms at 24 kHz
    tone = (10000 * np.sin(np.arange(24000) * 2 * math.pi * 1000 / 24000)).astype("<i2")
    sizes = [len(resampler.process(tone[i : i + chunk].tobytes())) // 2 for i in range(0, 24000, chunk)]
    assert sizes[0] >= 130 and sizes[1:] == [160] * 49, sizes  # 139: less the filter's half

    def level_db(freq: float) -> float:
        r = codec.StreamResampler(24000, 8000)
        x = (10000 * np.sin(np.arange(24000) * 2 * math.pi * freq / 24000)).astype("<i2")
        out = b"".join(r.process(x[i : i + chunk].tobytes()) for i in range(0, 24000, chunk))
        y = np.frombuffer(out, dtype="<i2")[200:].astype(np.float64)
        return 20 * math.log10(max(np.sqrt(np.mean(y * y)), 1e-3) / (10000 / math.sqrt(2)))

    assert level_db(1000) > -0.5
    assert level_db(5000) < -60


def _sample(pcm: bytes) -> int:
    return int(np.frombuffer(pcm, dtype="<i2")[0])


@pytest.mark.parametrize(
    ("encoding", "decode"), [("ulaw", g711.decode_ulaw), ("alaw", g711.decode_alaw)], ids=["ulaw", "alaw"]
)
def test_loudness_read_off_g711_bytes_agrees_with_the_decoded_samples(encoding, decode):
    """The uplink tells speech from quiet on the encoded bytes (codec.loudness_test); for every code,
    alone and among quiet ones, that must be what the standard's rule decodes it to."""
    for peak in (100, 1500, 8000):
        loud = codec.loudness_test(encoding, peak)
        quiet_code = next(b for b in ALL_BYTES if abs(_sample(decode(bytes([b])))) <= peak)
        for code in ALL_BYTES:
            sample = _sample(decode(bytes([code])))
            frame = bytes([quiet_code]) * 80 + bytes([code]) + bytes([quiet_code]) * 79
            assert loud(frame) == (abs(sample) > peak), (encoding, peak, code, sample)
        assert not loud(b"")


def test_loudness_of_linear_pcm():
    loud = codec.loudness_test("pcm", 1500)
    assert loud(np.array([0, 1500, -1500], dtype="<i2").tobytes()) is False
    assert loud(np.array([0, 1501], dtype="<i2").tobytes()) is True
    assert loud(np.array([-1501, 3], dtype="<i2").tobytes()) is True
    assert loud(b"") is False
