"""The spoken brief a person hears before taking a transferred call, rendered with flite.

The text changes with every transfer (caller, reason, the model's summary), so it cannot be
pre-rendered; flite runs as a child process (the event loop only awaits its pipe) while the
person's phone rings, and the 8 kHz PCM is ready by the time they answer.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import wave

from engine.codec import resample

log = logging.getLogger(__name__)

RENDER_TIMEOUT = 20.0


class BriefUnavailable(RuntimeError):
    """flite is missing or failed: the person cannot be briefed (the message says what to install)."""


async def render_brief(text: str, rate: int = 8000) -> bytes:
    """`text` spoken by flite as 16-bit mono PCM at `rate` Hz."""
    flite = shutil.which("flite")
    if flite is None:
        raise BriefUnavailable("flite is not installed (apt-get install flite): the brief cannot be spoken")
    process = await asyncio.create_subprocess_exec(
        flite,
        "-voice",
        "slt",
        "-t",
        text,
        "-o",
        "/dev/stdout",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), RENDER_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BriefUnavailable(f"flite did not finish within {RENDER_TIMEOUT:g} s") from None
    if process.returncode != 0 or not out:
        raise BriefUnavailable(f"flite failed ({process.returncode}): {err.decode(errors='replace')[:200]}")
    try:
        with wave.open(io.BytesIO(out), "rb") as wav:
            source_rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise BriefUnavailable(f"flite wrote no WAV: {exc}") from exc
    return resample(pcm, source_rate, rate)
