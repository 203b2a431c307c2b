"""What each Asterisk release does, for the emulator's version switch, from shared/reference/asterisk.md.

Each feature lists the first release of every branch that has it (the reference's `git tag
--contains` on the cherry-pick) and where the fact comes from. A branch newer than every listed
one has the feature; an unlisted or older branch does not. Kept apart from the product's own table
(telephony/asterisk/versions.py) on purpose: the two are written from the reference separately, so
a wrong entry in either shows up as a disagreement in tests/emulators/test_wire_reference.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    since: tuple[tuple[int, int], ...]  # (major, minor) of the first release per branch
    source: str  # where asterisk.md takes it from


FACTS: dict[str, Fact] = {
    "websocket_media": Fact(
        ((20, 16), (21, 11), (22, 6), (23, 0)),
        "§0.3 chan_websocket first shipped 20.16.0/21.11.0/22.6.0/23.0.0 [SRC tags][DOC]",
    ),
    "websocket_marks": Fact(
        ((20, 18), (22, 8), (23, 2)),
        "§0.3 JSON control messages, MARK_MEDIA, transport_data: 20.18/22.8/23.2 [SRC tags][DOC]",
    ),
    "websocket_direction": Fact(
        ((20, 19), (22, 9), (23, 3)),
        "§0.3 media direction in/out: 20.19/22.9/23.3 [SRC tags][DOC]",
    ),
    "audiosocket_rate_kinds": Fact(
        ((20, 17), (21, 12), (22, 7), (23, 1)),
        "§0.8/§3b audio kinds 0x11..0x18; before, 0x10 for every codec [SRC res_audiosocket.c]",
    ),
    "audiosocket_dtmf": Fact(
        ((20, 14), (21, 9), (22, 4), (23, 0)),
        "§3b kind 0x03 DTMF from Asterisk: 20.14/21.9/22.4/23.0 [SRC res_audiosocket.h]",
    ),
    "application_registered": Fact(
        ((20, 15), (21, 10), (22, 5), (23, 0)),
        "§1 ApplicationRegistered on events sockets since 20.15/21.10/22.5/23.0 [SRC]",
    ),
    "media_start_channel_id": Fact(
        ((20, 17), (21, 12), (22, 7), (23, 1)),
        "§3c MEDIA_START channel_id 22.7+ [ISS asterisk#1544]; other branches as the 22.7 batch [?]",
    ),
    "rest_over_websocket": Fact(
        ((20, 14), (21, 9), (22, 4), (23, 0)),
        "§1 RESTRequest over the events socket: 20.14/21.9/22.4/23.0 [SRC][DOC]",
    ),
}


def release(version: str) -> tuple[int, int]:
    """'22.10.1' -> (22, 10); '22.6.0-rc1' -> (22, 6); a missing minor counts as 0."""
    match = re.match(r"(\d+)(?:\.(\d+))?", version.strip())
    if match is None:
        raise ValueError(f"not an Asterisk version: {version!r}")
    return int(match[1]), int(match[2] or 0)


def has(version: str, feature: str) -> bool:
    """Whether Asterisk `version` has `feature` (a key of FACTS)."""
    major, minor = release(version)
    since = FACTS[feature].since
    if major > max(m for m, _ in since):
        return True
    return any(major == m and minor >= n for m, n in since)
