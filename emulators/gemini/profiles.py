"""Timing profiles: how fast the emulator answers, and how much work it does per session."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Profile:
    """Timings the reference (§8) asks to be configurable.

    send_speed: audio delivery speed as a multiple of real time (0 = as fast as the socket takes it).
    The fast profile sends at real time (1.0), so a reply is never all sent before it could have been
    played and a barge-in cuts what was not sent yet.
    hold_factor: turnComplete is held until hold_factor x the reply's playback time has passed since the
    first audio chunk (1.0 = the real service's "assume real-time playback").
    """

    name: str
    setup_delay_s: float
    silence_ms: int  # end-of-turn silence when the session did not set silenceDurationMs
    first_audio_delay_s: float
    send_speed: float
    hold_factor: float
    connection_cap_s: float
    goaway_before_s: float
    recognize: bool
    default_max_sessions: int


PROFILES: dict[str, Profile] = {
    "fast": Profile(
        name="fast",
        setup_delay_s=0.0,
        silence_ms=300,
        first_audio_delay_s=0.0,
        send_speed=1.0,
        hold_factor=0.25,
        connection_cap_s=600.0,
        goaway_before_s=50.0,
        recognize=True,
        default_max_sessions=100,
    ),
    # Opt-in for tests whose assertions do not depend on reply pacing (fixture `gemini_instant`): the
    # fast profile, but each reply is sent as fast as the socket takes it.
    "instant": Profile(
        name="instant",
        setup_delay_s=0.0,
        silence_ms=300,
        first_audio_delay_s=0.0,
        send_speed=0.0,
        hold_factor=0.25,
        connection_cap_s=600.0,
        goaway_before_s=50.0,
        recognize=True,
        default_max_sessions=100,
    ),
    "realistic": Profile(
        name="realistic",
        setup_delay_s=0.15,
        silence_ms=800,
        first_audio_delay_s=0.2,
        send_speed=4.0,
        hold_factor=1.0,
        connection_cap_s=600.0,
        goaway_before_s=50.0,
        recognize=True,
        default_max_sessions=10,
    ),
    "bench": Profile(
        name="bench",
        setup_delay_s=0.15,
        silence_ms=800,
        first_audio_delay_s=0.2,
        send_speed=4.0,
        hold_factor=1.0,
        connection_cap_s=600.0,
        goaway_before_s=50.0,
        recognize=False,
        default_max_sessions=1000,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
