"""The caller's side of an emulated carrier call, shared by the Twilio and Plivo emulators.

A `Handset` is what a person on the phone does: speak (flite speech or a WAV, sent as 20 ms u-law
frames on a real-time clock, silence in between) and hear (the carrier's playout buffer drained at
8000 bytes/s; what it plays is recorded as 8 kHz PCM on the same timeline as what was said).

`CarrierPlayout` is the carrier's queue of app audio and marks: a small jitter buffer fills before
a talk-spurt starts playing; marks come back when the audio queued before them has played; on
clear, Twilio returns every pending mark at once while Plivo drops them (`marks_on_clear`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import threading
import time
import wave
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emulators.wire.g711 import decode_ulaw, encode_ulaw
from emulators.wire.resample import resample

RATE = 8000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000  # u-law: one byte per sample
SILENCE = b"\xff" * FRAME_BYTES  # u-law zero


# --- speaking -------------------------------------------------------------------------------------
def wav_pcm(path: str | Path, rate: int = RATE) -> bytes:
    """A mono 16-bit WAV as PCM at `rate`."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit WAV files are supported")
        src_rate, channels = wav.getframerate(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
    if channels > 1:
        pcm = np.frombuffer(pcm, dtype="<i2")[::channels].tobytes()
    return resample(pcm, src_rate, rate)


def flite_pcm(text: str, rate: int = RATE, voice: str = "slt") -> bytes:
    """Speak `text` with flite (a blocking subprocess: call it in a thread)."""
    with tempfile.TemporaryDirectory(prefix="caller-") as tmp:
        out = os.path.join(tmp, "say.wav")
        subprocess.run(
            ["flite", "-voice", voice, "-t", text, "-o", out],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return wav_pcm(out, rate)


# --- hearing --------------------------------------------------------------------------------------
_decoder = None
_decoder_lock = threading.Lock()


def transcribe(pcm8k: bytes) -> str:
    """What pocketsphinx hears in 8 kHz PCM (blocking: call it in a thread). Lower-case words."""
    global _decoder
    if not pcm8k:
        return ""
    pcm16k = resample(pcm8k, RATE, 16000)
    with _decoder_lock:
        if _decoder is None:
            from pocketsphinx import Decoder

            _decoder = Decoder(samprate=16000, upperf=3500, loglevel="FATAL")
        _decoder.start_utt()
        _decoder.process_raw(pcm16k, full_utt=True)
        _decoder.end_utt()
        hyp = _decoder.hyp()
    return hyp.hypstr.strip().lower() if hyp is not None else ""


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


# --- the carrier's playout queue ------------------------------------------------------------------
@dataclass
class PlayoutStats:
    frames_in: int = 0  # app audio messages accepted
    bytes_in: int = 0
    rejected: int = 0  # messages refused (too big, bad format)
    clears: int = 0
    underruns: int = 0  # a talk-spurt ran dry and resumed: the caller heard a gap (a late frame)
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, bytes)
    mark_arrivals: list[float] = field(default_factory=list)  # monotonic times marks arrived


class CarrierPlayout:
    """FIFO of app audio and marks, drained one 20 ms frame per tick.

    A talk-spurt starts playing once `jitter_ms` of audio is queued (or a mark closes it). If it
    runs dry with no mark reached and more audio comes later, the caller heard a gap: an underrun,
    i.e. a frame that arrived too late.
    """

    def __init__(self, marks_on_clear: bool, jitter_ms: int = 60) -> None:
        self.marks_on_clear = marks_on_clear
        self.jitter_bytes = RATE * jitter_ms // 1000
        self._items: deque[tuple[str, bytes | str]] = deque()  # ("audio", ulaw) | ("mark", name)
        self._queued_audio = 0
        self._playing = False
        self._starved = False  # ran dry mid-turn (no mark reached)
        self.stats = PlayoutStats()

    @property
    def queued_ms(self) -> float:
        return self._queued_audio / RATE * 1000

    def add_audio(self, ulaw: bytes, now: float) -> None:
        self.stats.frames_in += 1
        self.stats.bytes_in += len(ulaw)
        self.stats.arrivals.append((now, len(ulaw)))
        if self._starved:
            self.stats.underruns += 1
            self._starved = False
        self._items.append(("audio", ulaw))
        self._queued_audio += len(ulaw)

    def add_mark(self, name: str) -> list[str]:
        """Queue a mark; returns it at once if nothing is queued before it."""
        self.stats.mark_arrivals.append(time.monotonic())
        self._starved = False
        if not self._items:
            return [name]
        self._items.append(("mark", name))
        return []

    def clear(self) -> list[str]:
        """Drop queued audio; return the marks to send back (Twilio: all pending; Plivo: none)."""
        self.stats.clears += 1
        marks = [str(v) for k, v in self._items if k == "mark"]
        self._items.clear()
        self._queued_audio = 0
        self._playing = False
        self._starved = False
        return marks if self.marks_on_clear else []

    def _head_marks(self) -> list[str]:
        marks = []
        while self._items and self._items[0][0] == "mark":
            marks.append(str(self._items.popleft()[1]))
        return marks

    def tick(self) -> tuple[bytes, list[str]]:
        """Play one frame: returns (u-law played, possibly silence; marks reached)."""
        marks = self._head_marks()
        if not self._playing:
            closed = any(kind == "mark" for kind, _ in self._items)
            if self._queued_audio and (self._queued_audio >= self.jitter_bytes or closed):
                self._playing = True
            else:
                return SILENCE, marks
        out = bytearray()
        while len(out) < FRAME_BYTES and self._items:
            kind, value = self._items[0]
            if kind == "mark":
                marks.append(str(self._items.popleft()[1]))
                continue
            take = FRAME_BYTES - len(out)
            out += value[:take]
            if len(value) > take:
                self._items[0] = ("audio", value[take:])
            else:
                self._items.popleft()
        self._queued_audio -= len(out)
        marks += self._head_marks()
        if not self._queued_audio:
            self._playing = False
            self._starved = not marks and not self._items
        return bytes(out) + SILENCE[: FRAME_BYTES - len(out)], marks


# --- the person -------------------------------------------------------------------------------
class Handset:
    """What the caller says (queued u-law) and hears (8 kHz PCM, one frame per tick)."""

    def __init__(self) -> None:
        self._speech = bytearray()
        self.heard = bytearray()  # 16-bit PCM at 8 kHz, continuous from the stream's start
        self.said = bytearray()  # the same for what the caller sent
        self._done_speaking = asyncio.Event()
        self._done_speaking.set()
        self.closed = False  # the stream ended: nothing more will be heard

    @property
    def speaking(self) -> bool:
        return bool(self._speech)

    def queue_pcm(self, pcm8k: bytes) -> float:
        """Queue speech; returns its duration in seconds."""
        self._speech += encode_ulaw(pcm8k)
        self._done_speaking.clear()
        return len(pcm8k) / 2 / RATE

    async def say(self, text: str) -> float:
        pcm = await asyncio.to_thread(flite_pcm, text)
        return self.queue_pcm(pcm)

    async def finished_speaking(self) -> None:
        await self._done_speaking.wait()

    def next_frame(self, size: int = FRAME_BYTES) -> bytes:
        """The next `size` bytes the caller sends (20 ms by default; tests send odd sizes)."""
        if not self._speech:
            frame = b"\xff" * size
        else:
            frame = bytes(self._speech[:size]).ljust(size, b"\xff")
            del self._speech[:size]
            if not self._speech:
                self._done_speaking.set()
        self.said += decode_ulaw(frame)
        return frame

    def hear(self, ulaw: bytes) -> None:
        self.heard += decode_ulaw(ulaw)

    # --- what tests look at -------------------------------------------------------------------
    @property
    def heard_seconds(self) -> float:
        return len(self.heard) / 2 / RATE

    def heard_since(self, seconds: float) -> bytes:
        return bytes(self.heard[int(seconds * RATE) * 2 :])

    def speech_seconds(self, start: float = 0.0, threshold: float = 300.0) -> float:
        """Seconds of heard audio (from `start`) whose 20 ms RMS is above `threshold`."""
        pcm = self.heard_since(start)
        step = FRAME_BYTES * 2
        return sum(rms(pcm[i : i + step]) > threshold for i in range(0, len(pcm), step)) * FRAME_MS / 1000

    def quiet_for(self, seconds: float, threshold: float = 300.0) -> bool:
        """True when the last `seconds` heard were silent."""
        n = int(seconds * RATE) * 2
        if len(self.heard) < n:
            return False
        tail = bytes(self.heard[-n:])
        step = FRAME_BYTES * 2
        return all(rms(tail[i : i + step]) < threshold for i in range(0, n - step + 1, step))

    def first_speech_after(self, start: float, threshold: float = 300.0) -> float | None:
        """Time (s) of the first loud 20 ms frame heard at or after `start`."""
        step = FRAME_BYTES * 2
        begin = int(start * RATE) * 2
        for i in range(begin - begin % step, len(self.heard) - step + 1, step):
            if rms(bytes(self.heard[i : i + step])) > threshold:
                return i / 2 / RATE
        return None

    async def next_speech_start(self, timeout: float = 20.0, threshold: float = 300.0) -> float:
        """Wait until the agent starts speaking after now (after the caller finished); returns its time."""
        await self.finished_speaking()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        since = self.heard_seconds
        while (start := self.first_speech_after(since, threshold)) is None:
            if self.closed or loop.time() > deadline:
                raise TimeoutError("the agent did not speak")
            await asyncio.sleep(0.05)
        return start

    async def next_reply(
        self, quiet: float = 0.8, timeout: float = 20.0, threshold: float = 300.0
    ) -> tuple[float, float]:
        """Wait for the agent to speak after now and then fall quiet; returns (start, end) in seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        since = self.heard_seconds
        start = None
        while start is None:
            if self.closed:
                raise TimeoutError("the call ended before the agent spoke")
            if loop.time() > deadline:
                raise TimeoutError("the agent did not speak")
            await asyncio.sleep(0.05)
            start = self.first_speech_after(since, threshold)
        while not self.quiet_for(quiet, threshold):
            if self.closed:
                return start, self.heard_seconds
            if loop.time() > deadline:
                raise TimeoutError("the agent did not stop speaking")
            await asyncio.sleep(0.05)
        return start, self.heard_seconds - quiet

    async def transcribe(self, start: float = 0.0, end: float | None = None) -> str:
        pcm = bytes(self.heard[int(start * RATE) * 2 : None if end is None else int(end * RATE) * 2])
        return await asyncio.to_thread(transcribe, pcm)


class RealTimeClock:
    """Absolute 20 ms deadlines (no drift); counts ticks that fired late by more than a frame."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._next = self._loop.time()
        self.late_ticks = 0

    async def wait(self) -> None:
        self._next += FRAME_MS / 1000
        delay = self._next - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -FRAME_MS / 1000:
            self.late_ticks += 1
            if delay < -0.2:  # stalled: restart the clock rather than burst
                self._next = self._loop.time()


# --- running an emulator beside a test (or a benchmark) --------------------------------------------
class EmulatorThread:
    """An event loop on its own thread, so an emulator outlives each test's loop.

    `await runner.run(coro)` runs a coroutine on the emulator's loop from any other loop;
    `runner.call(coro)` does the same from plain synchronous code.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, coro):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def call(self, coro, timeout: float | None = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
