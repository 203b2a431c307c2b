"""Opening hours of a transfer target: `Mon-Fri 09:00-17:00; Sat 10:00-13:00`, in settings.TIME_ZONE.

Parsed by the admin (a clear error on a typo) and by the engine when the model asks for a warm
transfer (a closed target is refused with its hours, so the agent can tell the caller). Pure functions:
no ORM, safe on the event loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORMAT_HELP = (
    "Write days and times like 'Mon-Fri 09:00-17:00; Sat 10:00-13:00' (days Mon Tue Wed Thu Fri Sat Sun, "
    "a range or a comma list; 24-hour times; several parts separated by ';'). Leave empty for always open."
)
_PART = re.compile(r"^\s*([A-Za-z,\-\s]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class HoursError(ValueError):
    """The hours text does not follow FORMAT_HELP."""


@dataclass(frozen=True)
class Opening:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time  # exclusive; 24:00 is written as time.max

    def covers(self, when: datetime) -> bool:
        return when.weekday() in self.days and self.start <= when.time() < self.end


def _day(word: str, text: str) -> int:
    key = word.strip().lower()[:3]
    if key not in DAYS:
        raise HoursError(f"'{word.strip()}' in '{text}' is not a day. {FORMAT_HELP}")
    return DAYS.index(key)


def _days(spec: str, text: str) -> frozenset[int]:
    out: set[int] = set()
    for piece in spec.split(","):
        if "-" in piece:
            first, last = (_day(p, text) for p in piece.split("-", 1))
            day = first
            out.add(day)
            while day != last:
                day = (day + 1) % 7
                out.add(day)
        elif piece.strip():
            out.add(_day(piece, text))
    if not out:
        raise HoursError(f"'{text}' names no day. {FORMAT_HELP}")
    return frozenset(out)


def _time(hours: str, minutes: str, text: str) -> time:
    h, m = int(hours), int(minutes)
    if h == 24 and m == 0:
        return time.max
    if h > 23 or m > 59:
        raise HoursError(f"'{hours}:{minutes}' in '{text}' is not a time of day. {FORMAT_HELP}")
    return time(h, m)


def parse(text: str) -> tuple[Opening, ...]:
    """The openings `text` describes; () for blank (always open). Raises HoursError with the format."""
    openings = []
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        match = _PART.match(part)
        if match is None:
            raise HoursError(f"'{part.strip()}' is not 'days HH:MM-HH:MM'. {FORMAT_HELP}")
        days, h1, m1, h2, m2 = match.groups()
        start, end = _time(h1, m1, part.strip()), _time(h2, m2, part.strip())
        if end <= start:
            raise HoursError(f"'{part.strip()}' closes before it opens. {FORMAT_HELP}")
        openings.append(Opening(_days(days, part.strip()), start, end))
    return tuple(openings)


def is_open(text: str, when: datetime) -> bool:
    """Whether a target with these hours takes calls at `when` (a local time); blank hours: always.
    Hours that do not parse (edited around the admin's check) count as always open, not as closed."""
    try:
        openings = parse(text)
    except HoursError:
        return True
    return not openings or any(o.covers(when) for o in openings)
