"""Which Asterisk releases have which feature (reference `asterisk.md` §0, from `git tag --contains`).

A feature is listed as the first release of each branch that has it; a branch newer than every
listed one has it, a branch not listed (or older) does not.
"""

from __future__ import annotations

FEATURES: dict[str, tuple[tuple[int, int], ...]] = {
    # chan_websocket (externalMedia transport=websocket)
    "websocket_media": ((20, 16), (21, 11), (22, 6), (23, 0)),
    # chan_websocket MARK_MEDIA / JSON control messages / transport_data
    "websocket_marks": ((20, 18), (22, 8), (23, 2)),
    # AudioSocket audio kinds 0x11..0x18 (one per rate); before, 0x10 for every codec
    "audiosocket_rate_kinds": ((20, 17), (21, 12), (22, 7), (23, 1)),
    # AudioSocket DTMF kind 0x03 from Asterisk
    "audiosocket_dtmf": ((20, 14), (21, 9), (22, 4), (23, 0)),
    # ApplicationRegistered event on the events socket
    "application_registered": ((20, 15), (21, 10), (22, 5), (23, 0)),
    # MEDIA_START carries channel_id
    "media_start_channel_id": ((20, 17), (21, 12), (22, 7), (23, 1)),
}


def parse_version(text: str) -> tuple[int, int, int]:
    """'22.10.1' -> (22, 10, 1); tolerant of suffixes like '22.6.0-rc1' and 'GIT-master'."""
    numbers: list[int] = []
    for part in text.strip().split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        numbers.append(int(digits))
    numbers += [0] * (3 - len(numbers))
    return numbers[0], numbers[1], numbers[2]


def has(version: str | tuple[int, ...], feature: str) -> bool:
    major, minor = (parse_version(version) if isinstance(version, str) else tuple(version))[:2]
    floors = FEATURES[feature]
    if major > max(m for m, _ in floors):
        return True
    return any(major == m and minor >= n for m, n in floors)
