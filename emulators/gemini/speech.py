"""Offline speech: flite speaks replies (resampled to 24 kHz), pocketsphinx hears the caller.

Both are CPU work, so the asyncio side only ever calls the `async` helpers, which run in executors.
The pocketsphinx decoder costs about a second to build, so there is one per process, shared behind a lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import tempfile
import threading
import wave
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soxr

TTS_RATE = 16000  # flite's native rate
OUT_RATE = 24000  # Gemini Live output rate
ASR_RATE = 16000

_tts_cache: dict[tuple[str, int], bytes] = {}
_tts_lock = threading.Lock()
_tts_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gemini-tts")
_asr_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gemini-asr")


def flite_pcm(text: str, rate: int = TTS_RATE, voice: str = "slt") -> bytes:
    """Speak text with flite; return 16-bit mono PCM at `rate`. Cached per (text, rate)."""
    key = (text, rate)
    with _tts_lock:
        cached = _tts_cache.get(key)
    if cached is not None:
        return cached
    with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
        out = os.path.join(tmp, "out.wav")
        subprocess.run(
            ["flite", "-voice", voice, "-t", text, "-o", out],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with wave.open(out, "rb") as w:
            src_rate = w.getframerate()
            pcm = w.readframes(w.getnframes())
    if src_rate != rate:
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        res = soxr.resample(samples, src_rate, rate)
        pcm = (np.clip(res, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
    with _tts_lock:
        _tts_cache[key] = pcm
    return pcm


async def speak(text: str, rate: int = OUT_RATE) -> bytes:
    """flite_pcm without blocking the event loop."""
    cached = _tts_cache.get((text, rate))
    if cached is not None:
        return cached
    return await asyncio.get_running_loop().run_in_executor(_tts_pool, flite_pcm, text, rate)


def resample(pcm: bytes, src: int, dst: int) -> bytes:
    """One-shot resampling of 16-bit mono PCM."""
    if src == dst or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype=np.int16)
    return soxr.resample(samples, src, dst).astype(np.int16).tobytes()


class _Interpolator:
    """Upsampling by a whole factor with 3 ms of delay: a Kaiser-windowed sinc low-pass over the
    zero-stuffed input, its history carried across chunks, so every chunk's output comes out with it.

    soxr's stream releases 8 kHz input upsampled to 16 kHz in blocks of about 104 ms (nothing for five
    20 ms chunks, then all of it): the detector would hear the start and the end of speech up to a tenth
    of a second late, by the phase of that block, which the real service does not do.

    Computed in polyphase form: output sample `factor * m + r` only meets the kernel's taps `r`,
    `r + factor`, ... (the others fall on stuffed zeros), so each phase is one convolution of the input
    itself with every factor-th tap. The same sums as convolving the zero-stuffed signal, without the
    multiplications by zero: the stand-in does this for every audio message of every call.
    """

    TAPS_PER_FACTOR = 48

    def __init__(self, factor: int) -> None:
        self.factor = factor
        taps = self.TAPS_PER_FACTOR * factor + 1
        n = np.arange(taps) - (taps - 1) / 2
        cutoff = 0.47 / factor  # of the output rate: just under the input's Nyquist
        kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(taps, 8.0)
        self.kernel = kernel * (factor / kernel.sum())  # zero-stuffing divides the level by the factor
        self._phases = [self.kernel[r::factor] for r in range(factor)]
        self._history = np.zeros(self.TAPS_PER_FACTOR)  # the last input samples, at the input rate

    def process(self, samples: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._history, samples])
        self._history = x[samples.size :]
        out = np.empty(samples.size * self.factor)
        out[:: self.factor] = np.convolve(x, self._phases[0], "valid")  # 49 taps: one per input sample
        for r in range(1, self.factor):  # 48 taps: the first output is the history's, already given
            out[r :: self.factor] = np.convolve(x, self._phases[r], "valid")[1:]
        np.rint(out, out=out)
        np.minimum(out, 32767.0, out=out)  # np.clip costs three times as much on a chunk this size
        np.maximum(out, -32768.0, out=out)
        return out.astype(np.int16)


class StreamResampler:
    """Resample an incoming audio stream chunk by chunk without clicks at chunk borders (and, for a whole
    factor up, such as a phone line's 8 kHz to 16 kHz, without holding audio back: `_Interpolator`)."""

    def __init__(self, src: int, dst: int = ASR_RATE) -> None:
        self.src = src
        self.dst = dst
        self._stream: soxr.ResampleStream | _Interpolator | None = None
        if src < dst and dst % src == 0:
            self._stream = _Interpolator(dst // src)
        elif src != dst:
            self._stream = soxr.ResampleStream(src, dst, 1, dtype="int16")

    def feed(self, pcm: bytes) -> bytes:
        if self._stream is None:
            return pcm
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype=np.int16)
        if isinstance(self._stream, _Interpolator):
            return self._stream.process(samples).tobytes()
        return self._stream.resample_chunk(samples).tobytes()


# --- recognition --------------------------------------------------------------------------------

_decoder = None
_decoder_lock = threading.Lock()
_grammars: dict[str, str] = {}


def _get_decoder():
    """Build the pocketsphinx decoder once per process (about a second of CPU)."""
    global _decoder
    if _decoder is None:
        from pocketsphinx import Decoder

        _decoder = Decoder(samprate=ASR_RATE, upperf=3500, loglevel="FATAL")
    return _decoder


def normalise_words(text: str) -> str:
    """Lower-case words only: what both the grammar and keyword matching compare."""
    return " ".join(re.findall(r"[a-z']+", text.lower()))


def _grammar_for(phrases: Iterable[str]) -> str | None:
    """Register (once) a JSGF grammar of the phrases whose words the dictionary knows; return its name."""
    decoder = _get_decoder()
    usable = sorted(
        {
            p
            for p in (normalise_words(x) for x in phrases)
            if p and all(decoder.lookup_word(w) is not None for w in p.split())
        }
    )
    if not usable:
        return None
    name = "scn_" + hashlib.sha1("|".join(usable).encode()).hexdigest()[:12]
    if name not in _grammars:
        jsgf = "#JSGF V1.0;\ngrammar scenario;\npublic <utt> = ( " + " | ".join(usable) + " );\n"
        decoder.add_jsgf_string(name, jsgf)
        _grammars[name] = jsgf
    return name


def recognise(pcm16k: bytes, phrases: Iterable[str] = (), fallback: bool = True) -> str:
    """Recognise one utterance: the scenario grammar first, the general model when the grammar finds nothing
    (unless `fallback` is False: then only the grammar, which snaps what it hears to the nearest phrase)."""
    if not pcm16k:
        return ""
    # Pad with silence: an utterance cut right at its last word (manual activityEnd) keeps the grammar
    # from reaching its final state.
    pad = b"\0" * (ASR_RATE * 2 * 3 // 10)
    pcm16k = pad + pcm16k + pad
    with _decoder_lock:
        decoder = _get_decoder()
        searches = []
        grammar = _grammar_for(phrases)
        if grammar:
            searches.append(grammar)
        if fallback or not grammar:
            searches.append("_default")
        for search in searches:
            decoder.activate_search(search)
            decoder.start_utt()
            decoder.process_raw(pcm16k, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            if hyp is not None and hyp.hypstr.strip():
                return hyp.hypstr.strip()
    return ""


async def recognise_async(pcm16k: bytes, phrases: Iterable[str] = ()) -> str:
    """recognise() on the ASR thread, so the event loop never blocks."""
    return await asyncio.get_running_loop().run_in_executor(_asr_pool, recognise, pcm16k, tuple(phrases))


def warm_up() -> None:
    """Build the decoder ahead of the first call (used by the server at start-up, off the loop)."""
    with _decoder_lock:
        _get_decoder()
