"""Card numbers and national ids out of stored transcripts.

Callers read card numbers aloud; the transcript must not keep them (PCI DSS forbids storing a card
number in clear outside a card vault). Transcription gives them as digits ("4111 1111 …") or as
words ("four one one one …"), so a run of 13 or more digits, written either way and split by
spaces, dashes, commas or dots, is replaced by "[card number]" when some 13–19 digits from its
start pass the Luhn check (what every card number does, and what order numbers rarely do). US
social security numbers written 3-2-4 ("123-45-6789") become "[national id]". Redaction happens
where segments are stored (`calls.tasks`), so the database, the dashboard, the API, the CSV and
the after-call summary never see the digits. Other patterns (a UK National Insurance number, an
account id) come from REDACT_PATTERNS: {"[label]": "regular expression", ...} in settings.
"""

from __future__ import annotations

import functools
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
          "six": "6", "seven": "7", "eight": "8", "nine": "9"}  # fmt: skip
_DIGIT = r"(?:\d|\b(?:" + "|".join(_WORDS) + r")\b)"
_RUN = re.compile(rf"{_DIGIT}(?:[\s,.\-]*{_DIGIT}){{12,}}", re.IGNORECASE)
_ONE = re.compile(_DIGIT, re.IGNORECASE)
_SSN = re.compile(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b")
CARD = "[card number]"
NATIONAL_ID = "[national id]"


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = "".join(_WORDS.get(d.lower(), d) for d in _ONE.findall(match.group(0)))
    for length in range(min(19, len(digits)), 12, -1):
        if luhn_ok(digits[:length]):
            return CARD
    return match.group(0)


@functools.lru_cache(maxsize=4)
def _extra(patterns: tuple[tuple[str, str], ...]) -> list[tuple[re.Pattern[str], str]]:
    compiled = []
    for label, pattern in patterns:
        try:
            compiled.append((re.compile(pattern, re.IGNORECASE), label))
        except re.error as exc:
            raise ImproperlyConfigured(
                f"REDACT_PATTERNS: {label!r} is not a valid regular expression ({exc})"
            ) from exc
    return compiled


def redact(text: str) -> str:
    """`text` with card numbers, US social security numbers and the REDACT_PATTERNS replaced (see the
    module docstring)."""
    text = _SSN.sub(NATIONAL_ID, _RUN.sub(_card, text))
    for pattern, label in _extra(tuple(getattr(settings, "REDACT_PATTERNS", {}).items())):
        text = pattern.sub(label, text)
    return text
