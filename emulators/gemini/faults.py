"""Faults tests can switch on at runtime (RunningEmulator.faults), from a scenario's "faults", or the CLI."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Faults:
    drop_mid_turn: bool = (
        False  # once: abort the TCP connection halfway through the next reply (client sees 1006)
    )
    drop_mid_speech_s: float | None = (
        None  # once: abort the TCP connection this far (s of audio) into the caller's next utterance
    )
    goaway_after_s: float | None = None  # every new connection: send goAway this many seconds after setup
    goaway_time_left_s: float = 5.0  # timeLeft announced by an early goAway; then close 1008 if still open
    first_audio_delay_s: float = 0.0  # extra delay before the first audio chunk of every reply
    refuse_resumption_once: bool = (
        False  # once: a resumption attempt is closed 1011 Internal error encountered.
    )

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise ValueError(f"unknown fault {key!r}")
            setattr(self, key, value)
