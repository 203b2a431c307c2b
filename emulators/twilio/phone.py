"""The caller's side of an emulated call: moved to `emulators.carrier.phone`, re-exported here."""

from emulators.carrier.phone import (
    FRAME_BYTES,
    FRAME_MS,
    RATE,
    SILENCE,
    CarrierPlayout,
    EmulatorThread,
    Handset,
    PlayoutStats,
    RealTimeClock,
    flite_pcm,
    rms,
    transcribe,
    wav_pcm,
)

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "RATE",
    "SILENCE",
    "CarrierPlayout",
    "EmulatorThread",
    "Handset",
    "PlayoutStats",
    "RealTimeClock",
    "flite_pcm",
    "rms",
    "transcribe",
    "wav_pcm",
]
