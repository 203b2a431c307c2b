"""The Asterisk media legs an extension (or `ASTERISK_MEDIA_TRANSPORT`) can choose: the one list.

Here, below `telephony`, so the admin's choices and the bridge's parser read the same table.
"""

from __future__ import annotations

# transport -> (allowed externalMedia formats, default format)
TRANSPORT_FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    # RTP back to a UnicastRTP channel only works for static payload types (reference §0.1):
    # slin16 sent back over RTP is dropped silently, so 16 kHz goes over AudioSocket or WebSocket.
    "rtp": (("ulaw", "alaw"), "ulaw"),
    "audiosocket": (("slin", "slin16"), "slin16"),
    "websocket": (("ulaw", "alaw", "slin", "slin16"), "slin16"),
}

_TRANSPORT_LABELS = {"rtp": "RTP", "audiosocket": "AudioSocket", "websocket": "WebSocket media"}
_FORMAT_LABELS = {
    "ulaw": "G.711 u-law, 8 kHz",
    "alaw": "G.711 A-law, 8 kHz",
    "slin": "linear, 8 kHz",
    "slin16": "linear, 16 kHz",
}


def media_choices() -> list[tuple[str, str]]:
    """Every value `parse_transport` accepts, labelled: "" (process default), "rtp", "rtp:alaw", ...

    A bare transport name means its default format, or the process's format when the process default
    is the same transport (as the variable has always worked).
    """
    choices = [("", "Process default (ASTERISK_MEDIA_TRANSPORT)")]
    for name, (formats, default) in TRANSPORT_FORMATS.items():
        label = _TRANSPORT_LABELS[name]
        choices.append((name, f"{label} ({_FORMAT_LABELS[default]})"))
        choices += [
            (f"{name}:{fmt}", f"{label} ({_FORMAT_LABELS[fmt]})") for fmt in formats if fmt != default
        ]
    return choices
