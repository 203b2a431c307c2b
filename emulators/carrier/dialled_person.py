"""The person a warm transfer dials, as every emulator models them (docs/emulators.md, "Warm transfer").

What the person does is read from the destination, the same way on every emulator, so tests read
alike: the last two digits of a person's destination say it.

- `01` answers and accepts (presses 1 after hearing the brief), `02` answers and declines (presses 2),
  `03` never answers (no-answer), `04` is busy.

A person's destination is one of: a number in `+1 500 555 02NN` (e.g. `+15005550201`), a SIP URI
whose user is `personNN` (`sip:person01@example.com`), or an Asterisk endpoint `<tech>/2NN`
(`PJSIP/201`) or `<tech>/personNN`. Other destinations are ordinary numbers (answered, no choice).
"""

from __future__ import annotations

import re

ACCEPTS, DECLINES, NEVER_ANSWERS, BUSY = "accepts", "declines", "no-answer", "busy"
BEHAVIOURS = {"01": ACCEPTS, "02": DECLINES, "03": NEVER_ANSWERS, "04": BUSY}

_PATTERNS = (
    re.compile(r"\+?15005550(?:2)(\d\d)"),  # +15005550201
    re.compile(r"sips?:person(\d\d)@.+", re.IGNORECASE),  # sip:person01@host
    re.compile(r"[A-Za-z0-9]+/(?:2|person)(\d\d)", re.IGNORECASE),  # PJSIP/201, PJSIP/person01
)


def behaviour(destination: str) -> str | None:
    """What the person at `destination` does, or None when it is not a person's destination."""
    text = (destination or "").strip()
    for pattern in _PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return BEHAVIOURS.get(found.group(1))
    return None


def digit(destination: str) -> str | None:
    """The key the person presses after the brief: "1" accepts, "2" declines; None for anyone else."""
    return {ACCEPTS: "1", DECLINES: "2"}.get(behaviour(destination) or "")
