"""What a caller heard, checked on the words and on the signal (emulators.gemini.likeness).

The grammar pass snaps distorted audio to the nearest line; the likeness check refuses audio that
does not sound like flite saying that line, so a codec, resampling or framing bug that garbles
the agent's voice fails the test instead of passing as the right words.
"""

from __future__ import annotations

import json
from pathlib import Path

from emulators.gemini.likeness import clipped_share, heard_phrase, likeness
from emulators.gemini.speech import recognise

_SCENARIO = json.loads(
    (Path(__file__).resolve().parents[2] / "emulators/gemini/default_scenario.json").read_text()
)
# Every line the default Gemini scenario speaks, plus the test agents' greeting.
AGENT_LINES = sorted(
    {
        line
        for rule in _SCENARIO["keywords"] + _SCENARIO["guidance"]
        for key in ("reply", "after_tool", "fallback")
        if (line := rule.get(key)) and len(line) < 120  # not the long story (barge-in tests cut it)
    }
    | {_SCENARIO["default_reply"], "Hello, thanks for calling Example Corp. How can I help?"}
)
HELLO_REPLY = "Hello! How can I help you today?"


def heard_line(pcm: bytes, rate: int) -> str:
    """The agent line the caller heard in `pcm` (16-bit at `rate`), with why not in the failure message."""
    line = heard_phrase(pcm, AGENT_LINES, rate)
    if not line:
        _keep(pcm, rate)
        words = recognise(pcm if rate == 16000 else _to_16k(pcm, rate))
        scores = {text: round(likeness(pcm, text, rate), 2) for text in AGENT_LINES if len(text) < 80}
        raise AssertionError(
            f"not an agent line as flite says it: heard {words!r}, clipped {clipped_share(pcm):.3f}, likeness {scores}"
        )
    return line


def _keep(pcm: bytes, rate: int) -> None:
    """Save refused audio to test-artifacts/heard/ for a person to listen to."""
    import wave

    from tests.conftest import ARTIFACTS

    folder = ARTIFACTS / "heard"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"refused-{len(list(folder.glob('*.wav'))) + 1}.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def _to_16k(pcm: bytes, rate: int) -> bytes:
    from emulators.wire.resample import resample

    return resample(pcm, rate, 16000)
