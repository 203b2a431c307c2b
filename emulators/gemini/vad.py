"""Energy-based voice activity detection on the 16 kHz stream, honouring automaticActivityDetection.

Time here is stream time (samples received), never wall-clock: the real server measures the audio it
receives, so a client that stops streaming freezes the detector (reference §5). A turn therefore ends
only after `silenceDurationMs` of quiet audio has been *received*, or at `audioStreamEnd` (`flush`);
a caller whose line sends nothing after an utterance is never answered unless the client streams
silence. How sure that is, per shared/reference/gemini-live.md:
- documented [DOC, §5, quoted in a public repo]: "keep streaming silence as audio", gaps in the stream
  freeze the detector, `silenceDurationMs` "measures quiet periods, not stream interruptions";
- observed [OBS, §4]: `voiceActivity.audioOffset` counts audio received, including silence;
- documented [DOC, §3, §5]: `audioStreamEnd` is for a microphone paused for more than 1 s; that it
  closes an open activity at once, as `flush` does here, is assumed [?];
- the emulator's own: the energy threshold, the sensitivity table and the 30 s utterance cap.
"""

from __future__ import annotations

import dataclasses

import numpy as np

RATE = 16000
FRAME = 320  # 20 ms
FRAME_MS = 20
PREROLL_MS = 300
MAX_UTTERANCE_S = 30

# (threshold dBFS, minimum speech ms before start is committed)
START = {"START_SENSITIVITY_HIGH": (-45.0, 40), "START_SENSITIVITY_LOW": (-33.0, 120)}
# multiplier on silence duration: HIGH ends speech sooner than LOW
END = {"END_SENSITIVITY_HIGH": 1.0, "END_SENSITIVITY_LOW": 1.6}


@dataclasses.dataclass
class VadEvent:
    kind: str  # "start" | "end"
    offset_s: float  # stream time of the event
    audio: bytes = b""  # the utterance (with pre-roll) on "end"


class EnergyVad:
    """Start after enough loud frames (sensitivity, prefixPaddingMs); end after silenceDurationMs of quiet."""

    def __init__(
        self,
        *,
        start_sensitivity: str | None = None,
        end_sensitivity: str | None = None,
        prefix_padding_ms: int | None = None,
        silence_duration_ms: int | None = None,
        default_silence_ms: int = 800,
    ) -> None:
        threshold, min_speech = START.get(start_sensitivity or "", START["START_SENSITIVITY_HIGH"])
        self.threshold = threshold
        self.start_frames = max(1, max(min_speech, int(prefix_padding_ms or 0)) // FRAME_MS)
        silence = silence_duration_ms if silence_duration_ms else default_silence_ms
        self.end_frames = max(1, int(silence * END.get(end_sensitivity or "", 1.0)) // FRAME_MS)
        self.samples = 0
        self.in_speech = False
        self._rest = b""
        self._loud_run = 0
        self._quiet_run = 0
        self._preroll: list[bytes] = []
        self._utterance: list[bytes] = []

    @property
    def loud_run(self) -> int:
        """Loud frames in a row not yet enough to start speech (they may start an utterance)."""
        return self._loud_run

    @property
    def offset_s(self) -> float:
        return self.samples / RATE

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Feed 16 kHz PCM; return the start/end events it completes."""
        data = self._rest + pcm
        n = len(data) // (FRAME * 2)
        self._rest = data[n * FRAME * 2 :]
        if n == 0:
            return []
        samples = np.frombuffer(data[: n * FRAME * 2], dtype=np.int16).astype(np.float32).reshape(n, FRAME)
        rms = np.sqrt(np.mean(samples * samples, axis=1)) / 32768.0
        levels = 20.0 * np.log10(rms + 1e-9)
        events: list[VadEvent] = []
        for i in range(n):
            frame = data[i * FRAME * 2 : (i + 1) * FRAME * 2]
            self.samples += FRAME
            loud = bool(levels[i] > self.threshold)
            if not self.in_speech:
                self._preroll.append(frame)
                if len(self._preroll) > PREROLL_MS // FRAME_MS:
                    self._preroll.pop(0)
                self._loud_run = self._loud_run + 1 if loud else 0
                if self._loud_run >= self.start_frames:
                    self.in_speech = True
                    self._quiet_run = 0
                    self._utterance = list(self._preroll)
                    self._preroll = []
                    events.append(VadEvent("start", self.offset_s))
            else:
                self._utterance.append(frame)
                self._quiet_run = 0 if loud else self._quiet_run + 1
                too_long = len(self._utterance) * FRAME_MS >= MAX_UTTERANCE_S * 1000
                if self._quiet_run >= self.end_frames or too_long:
                    events.append(self._end())
        return events

    def _end(self) -> VadEvent:
        self.in_speech = False
        self._loud_run = 0
        self._quiet_run = 0
        audio = b"".join(self._utterance)
        self._utterance = []
        return VadEvent("end", self.offset_s, audio)

    def flush(self) -> list[VadEvent]:
        """audioStreamEnd: the client paused its microphone, so close any open activity now."""
        self._rest = b""
        return [self._end()] if self.in_speech else []
