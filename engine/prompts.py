"""Pre-rendered prompts shipped in the repo (made once with flite), for when no agent can speak.

`apology.wav`: an unknown or inactive number. `busy.wav`: a concurrency cap or Gemini unreachable.
`hold.wav`: "Please hold while I connect you." (a warm transfer, before the hold music).
Loaded once and cached at each rate a transport asks for.
"""

from __future__ import annotations

import wave
from functools import lru_cache
from pathlib import Path

from .codec import resample

AUDIO_DIR = Path(__file__).resolve().parent / "audio"
PROMPTS = {name: AUDIO_DIR / f"{name}.wav" for name in ("apology", "busy", "hold")}


@lru_cache(maxsize=16)
def prompt_pcm(name: str, rate: int = 8000) -> bytes:
    """16-bit mono PCM of prompt `name` at `rate` Hz."""
    with wave.open(str(PROMPTS[name]), "rb") as wav:
        src_rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    return resample(pcm, src_rate, rate)
