"""What a call leaves behind, collected during the call: transcript and recording.

Nothing here touches the disk or the database: the recording's chunks are written by
`engine.recording` in a worker thread, the transcript is stored by Celery tasks.
"""

from __future__ import annotations

import io
import wave

import numpy as np

# A transcription arrives at most this long after the speech began; an older start (line noise taken
# for voice) is not believed.
MAX_TRANSCRIPT_LAG_MS = 10_000


class Transcript:
    """Caller and agent turns from Gemini's input and output transcriptions."""

    def __init__(self) -> None:
        self.segments: list[dict] = []
        self._open: dict[str, dict] = {}
        self._ended_ms: dict[str, int] = {}  # when each side's last closed turn ended

    def add(self, speaker: str, text: str, at_ms: int, started_ms: int | None = None) -> None:
        """Text of `speaker`'s turn, arriving at `at_ms`. `started_ms`: when that speech began, if
        known (the caller's transcription arrives seconds after they spoke); a new turn starts then,
        never before the same side's previous turn ended."""
        if not text:
            return
        seg = self._open.get(speaker)
        if seg is None:
            # A new turn of one side closes the others' open turns (caller, agent, a supervisor on the line).
            for other in [open_speaker for open_speaker in self._open if open_speaker != speaker]:
                self.close(other, at_ms)
            start = at_ms
            if started_ms is not None:
                floor = max(self._ended_ms.get(speaker, 0), at_ms - MAX_TRANSCRIPT_LAG_MS)
                start = min(at_ms, max(started_ms, floor))
            seg = self._open[speaker] = {"speaker": speaker, "text": "", "start_ms": start, "end_ms": at_ms}
        seg["text"] += text
        seg["end_ms"] = at_ms

    def close(self, speaker: str, at_ms: int) -> None:
        seg = self._open.pop(speaker, None)
        if seg and seg["text"].strip():
            seg["text"] = " ".join(seg["text"].split())
            seg["end_ms"] = max(seg["end_ms"], at_ms)
            self._ended_ms[speaker] = seg["end_ms"]
            seg["seq"] = len(self.segments)
            self.segments.append(seg)

    def note(self, speaker: str, text: str, at_ms: int) -> None:
        """A one-off line (a keypad digit, a supervisor's note), stored as its own segment."""
        self.segments.append(
            {"speaker": speaker, "text": text, "start_ms": at_ms, "end_ms": at_ms, "seq": len(self.segments)}
        )

    def close_all(self, at_ms: int) -> None:
        for speaker in list(self._open):
            self.close(speaker, at_ms)
        self.segments.sort(key=lambda s: s["start_ms"])

    def text(self, speaker: str | None = None) -> str:
        return " ".join(s["text"] for s in self.segments if speaker in (None, s["speaker"]))


class Recorder:
    """Two tracks at the wire rate, caller left and agent right, aligned on the call clock.

    Only the audio not yet handed to the writer is held: `take` interleaves what lies before a point of
    the call clock and forgets it, so memory stays flat however long the call lasts.
    """

    def __init__(self, rate: int, enabled: bool) -> None:
        self.rate = rate
        self.enabled = enabled
        self._tracks = {"caller": bytearray(), "agent": bytearray()}
        self._taken = 0  # bytes per track already taken (the same for both tracks)

    def add(self, side: str, pcm: bytes, at_seconds: float) -> None:
        if not self.enabled:
            return
        track = self._tracks[side]
        position = int(at_seconds * self.rate) * 2 - self._taken
        if position > len(track):
            track += b"\x00" * (position - len(track))  # silence until this audio started
        track += pcm

    @property
    def duration_seconds(self) -> float:
        return (self._taken + max(len(t) for t in self._tracks.values())) / 2 / self.rate

    def take(self, before_seconds: float | None = None) -> bytes:
        """Interleaved stereo samples up to `before_seconds` on the call clock (all of it when None),
        removed from memory.

        Audio is only ever appended at or after the clock's present, so with a point a little in the past
        a track shorter than it can only be followed by silence up to there: padding it now gives the same
        bytes as padding it at the end, and never goes past the longer track.
        """
        longest = max(len(t) for t in self._tracks.values())
        n = (
            longest
            if before_seconds is None
            else min(longest, int(before_seconds * self.rate) * 2 - self._taken)
        )
        if n <= 0:
            return b""
        stereo = np.zeros((n // 2, 2), dtype="<i2")
        for channel, side in enumerate(("caller", "agent")):
            track = self._tracks[side]
            have = min(n, len(track))
            stereo[: have // 2, channel] = np.frombuffer(track, dtype="<i2", count=have // 2)
            del track[: min(n, len(track))]
        self._taken += n
        return stereo.tobytes()

    def wav_bytes(self) -> bytes:
        """The whole recording as one WAV (what is left to take), for callers that want it in memory."""
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(self.take())
        return out.getvalue()
