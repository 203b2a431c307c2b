"""Settings of the Asterisk bridge, read once from Django settings (see `contactcenter/settings.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from agents.media import TRANSPORT_FORMATS

# externalMedia format -> (engine encoding, rate)
FORMAT_WIRE: dict[str, tuple[str, int]] = {
    "ulaw": ("ulaw", 8000),
    "alaw": ("alaw", 8000),
    "slin": ("pcm", 8000),
    "slin16": ("pcm", 16000),
}


def parse_transport(value: str, fallback: str = "rtp") -> tuple[str, str]:
    """'rtp:alaw' -> ('rtp', 'alaw'); 'audiosocket' -> ('audiosocket', 'slin16')."""
    name, _, fmt = (value or fallback).strip().lower().partition(":")
    if name not in TRANSPORT_FORMATS:
        raise ValueError(f"unknown Asterisk media transport {value!r}: use rtp, audiosocket or websocket")
    allowed, default = TRANSPORT_FORMATS[name]
    fmt = fmt or default
    if fmt not in allowed:
        raise ValueError(f"format {fmt!r} is not usable over {name} (use one of {', '.join(allowed)})")
    return name, fmt


def parse_port_range(value: str) -> tuple[int, int]:
    low, _, high = value.partition("-")
    low_i, high_i = int(low), int(high or low)
    if not 0 < low_i <= high_i < 65536:
        raise ValueError(f"bad RTP_PORT_RANGE {value!r}: use e.g. 20000-29999")
    return low_i, high_i


@dataclass(frozen=True)
class AsteriskConfig:
    ari_url: str
    username: str
    password: str
    app: str
    bind_host: str
    advertise_host: str
    rtp_ports: tuple[int, int]
    audiosocket_port: int
    transport: tuple[str, str]
    sounds_port: int = 0  # HTTP port of the sounds Asterisk fetches (a warm transfer's brief)

    @classmethod
    def from_settings(cls, **overrides) -> AsteriskConfig:
        bind = settings.MEDIA_BIND_HOST
        advertise = settings.MEDIA_ADVERTISE_HOST or ("127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind)
        values = dict(
            ari_url=settings.ARI_URL,
            username=settings.ARI_USERNAME,
            password=settings.ARI_PASSWORD,
            app=settings.ARI_APP,
            bind_host=bind,
            advertise_host=advertise,
            rtp_ports=parse_port_range(settings.RTP_PORT_RANGE),
            audiosocket_port=settings.AUDIOSOCKET_PORT,
            transport=parse_transport(settings.ASTERISK_MEDIA_TRANSPORT),
            sounds_port=settings.ASTERISK_SOUNDS_PORT,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def transport_for(self, extension_choice: str) -> tuple[str, str]:
        """The extension's transport (with the global format if it is the same transport)."""
        if not extension_choice:
            return self.transport
        name, fmt = parse_transport(extension_choice)
        if ":" not in extension_choice and name == self.transport[0]:
            return self.transport
        return name, fmt
