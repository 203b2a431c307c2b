"""Caller audio to Gemini: decode, batch, send (at the line's rate unless GEMINI_INPUT_RATE asks for
another: the Live API resamples, and a bridge-side streaming resampler would hold back ~40 ms of every
utterance's end, which each reply waits for).

`push` runs in the transport's coroutine and never awaits: it converts (microseconds) and, on a plainly
open connection, writes each whole message to Gemini's socket there and then (`LiveLink.send_audio_now`,
`engine.wire`: no task wake-up per message); otherwise the message queues for a sender task. It sends
in messages whose size follows what Gemini's turn detection is deciding, because
each message costs a WebSocket frame and a TLS write (the largest share of a media process's CPU after
reading the carrier's frames, issue 16):
- 20 ms (QUICK_MS) for the first ONSET_QUICK_S of an utterance, where a barge-in is decided on the
  speech received, and in the quiet after a voiced frame until the end-of-turn silence has surely gone
  up (the agent's silence_duration_ms plus QUICK_MARGIN_S): a half-filled batch would delay both;
- 40 ms (GEMINI_SPEECH_BATCH_MS) in the rest of an utterance: a decision taken there is at most 20 ms late,
  and the first quiet frame flushes what is pending, in one message (`_batch`);
- GEMINI_INPUT_BATCH_MS (100 ms) while the caller is quiet, most of a call: the first voiced frame
  flushes what is pending too, in one message, so a barge-in waits for no batch.
While Gemini reconnects the queue is bounded: the oldest audio is dropped and counted.

Silent lines. Phones and PBXs with silence suppression (DTX, WebRTC, Asterisk's bridge relaying only
what the phone sends) send no packets while the caller is quiet. Gemini's automatic activity
detection measures the audio it *receives*, not wall-clock time: "gaps in the stream freeze it",
`silenceDurationMs` "measures quiet periods, not stream interruptions" (reference gemini-live.md §5,
[DOC] as quoted in a public repo; §4 `voiceActivity.audioOffset` "counts audio received, including
silence" [OBS]). So an utterance followed by nothing never ends its turn. `keep_fed` therefore sends
comfort silence (zeros, topped up every FEED_TICK_MS, real-time pace) whenever no caller
audio arrived for more than `SILENCE_GAP_S`, until real audio resumes. Not `audioStreamEnd`: the
reference documents it for a microphone paused "for more than 1 s" (§3, §5), so it could only end
a turn a second or more late, and nothing documents how detection resumes after it; streamed
silence is what the reference says the detector measures, and it works for 60 ms gaps too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np

from engine.codec import DECODERS, StreamResampler, loudness_test

from .port import WireFormat

log = logging.getLogger(__name__)

SILENCE_GAP_S = 0.06  # no caller audio for this long: the line is silent, feed comfort silence
MAX_CATCH_UP_S = 0.2  # after a stall, at most this much comfort silence at once
VOICE_PEAK = 1500  # rough speech threshold: message sizes, latency metrics, transcript timing
MAX_EXTRA_BATCHES = 5  # mixed-in audio (a supervisor) queued beyond this many batches loses its oldest
UTTERANCE_GAP = 0.7  # quiet longer than this between voiced frames starts a new caller utterance
QUICK_MS = 20  # where turn detection decides, caller audio goes up in messages this short:
ONSET_QUICK_S = 0.3  # ... the first this-long of an utterance (a barge-in is decided there),
QUICK_MARGIN_S = 0.5  # ... and after its last voiced frame, the agent's end-of-turn silence plus this
QUICK_AFTER_VOICE_S = 1.0  # that window before the agent's silence is known (500 ms, Gemini's usual)
SPEECH_BATCH_MS = 40  # the rest of an utterance goes up in messages this long (GEMINI_SPEECH_BATCH_MS)
FEED_TICK_MS = 40  # how often a silent line's comfort silence is topped up (not the batch size: see _tick)


class FeedClock:
    """One timer per event loop and tick period for every uplink fed comfort silence.

    Ticks fall on whole multiples of the period of loop time, so all calls are checked in one pass of
    the loop, by one timer: 30 calls' ticks cost one wake-up and one timer, not 30 of each at scattered
    instants (each a return from epoll and a thread switch, issue 16).
    """

    _clocks: dict[tuple[asyncio.AbstractEventLoop, float], FeedClock] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float) -> None:
        self.loop = loop
        self.period = period
        self.uplinks: dict[Uplink, None] = {}  # in the order they started: a dict, not a set
        self._timer: asyncio.TimerHandle | None = None
        self._tick_no = 0  # the next tick is at _tick_no * period of loop time

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, period: float) -> FeedClock:
        key = (loop, period)
        if key not in cls._clocks:
            cls._clocks[key] = cls(loop, period)
        return cls._clocks[key]

    def add(self, uplink: Uplink) -> None:
        self.uplinks[uplink] = None
        if self._timer is None:
            self._tick_no = int(self.loop.time() / self.period)
            self._arm()

    def discard(self, uplink: Uplink) -> None:
        self.uplinks.pop(uplink, None)
        if not self.uplinks:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._forget()

    def _arm(self) -> None:
        self._tick_no += 1
        now = self.loop.time()
        if now - self._tick_no * self.period > MAX_CATCH_UP_S:  # the loop stalled: restart the clock
            self._tick_no = int(now / self.period) + 1
        self._timer = self.loop.call_at(self._tick_no * self.period, self._tick)

    def _tick(self) -> None:
        for uplink in list(self.uplinks):
            try:
                uplink._tick(self.loop)
            except Exception:  # noqa: BLE001 - one call's fault must not stop the others' silence
                log.exception("comfort silence failed for one call; its line is no longer fed")
                self.uplinks.pop(uplink, None)
        if self.uplinks:
            self._arm()
        else:
            self._timer = None
            self._forget()

    def _forget(self) -> None:
        """Out of the registry once idle (the next uplink on this loop starts a new clock)."""
        key = (self.loop, self.period)
        if self._clocks.get(key) is self:
            del self._clocks[key]


class Uplink:
    def __init__(
        self,
        wire: WireFormat,
        batch_ms: int,
        on_caller_pcm: Callable[[bytes], None],
        max_queue_ms: int = 2000,
        rate: int = 0,
        speech_batch_ms: int = SPEECH_BATCH_MS,
    ) -> None:
        self._decode = DECODERS[wire.encoding]
        self._loud = loudness_test(wire.encoding, VOICE_PEAK)
        self._g711 = wire.encoding != "pcm"  # one byte per sample: loudness is read off the wire bytes
        self._loop: asyncio.AbstractEventLoop | None = None  # the call's loop, taken on the first frame
        self.rate = rate or wire.rate  # what Gemini receives (0: the line's own rate)
        self.mime = f"audio/pcm;rate={self.rate}"
        self._resampler = StreamResampler(wire.rate, self.rate)  # a pass-through at the line's rate
        self._batch_bytes = self.rate * batch_ms // 1000 * 2
        self.shortest_ms = min(batch_ms, QUICK_MS)  # the shortest message this uplink sends
        self._quick_bytes = self.rate * self.shortest_ms // 1000 * 2
        self._speech_bytes = self.rate * min(batch_ms, max(speech_batch_ms, QUICK_MS)) // 1000 * 2
        self.quick_after_s = QUICK_AFTER_VOICE_S  # `end_of_turn_silence` sets it from the agent
        self._pending = bytearray()
        self._queue: deque[bytes] = deque(maxlen=max(1, max_queue_ms // self.shortest_ms))
        # The sender's wake-up: a future on the call's loop, not an asyncio.Event, whose wait asks for the
        # running loop (a getpid() system call on Python 3.11) every time the sender goes idle.
        self._wake: asyncio.Future[None] | None = None
        # Sends a batch at once without awaiting, or says it cannot (LiveLink.send_audio_now): set by `run`.
        self._send_now: Callable[[bytes], bool] | None = None
        self._sending = False  # the sender task is inside a send: nothing may overtake it
        self._on_caller_pcm = on_caller_pcm
        self._odd = b""
        tick_ms = min(batch_ms, FEED_TICK_MS)
        self._silence = bytes(wire.rate * tick_ms // 1000 * 2)  # one tick of zeros at the wire rate
        self._period = tick_ms / 1000
        self._clock: FeedClock | None = None  # while fed: the loop's clock that calls `_tick`
        self._connected: asyncio.Event | None = None
        self._wire_bytes_per_s = wire.rate * 2  # decoded linear PCM
        self._pcm_in = 0  # decoded caller PCM bytes received (compared with elapsed time per tick)
        self._seen = 0  # _pcm_in at the last tick
        self._covered = 0.0  # loop time up to which the line's audio (or comfort silence) reached
        self._last_tick = 0.0
        self._filling = False  # comfort silence is flowing
        self.frames_in = 0
        self.dropped = 0
        self.silence_batches = 0  # comfort-silence batches fed while the line sent nothing
        self.last_voice_at: float | None = None
        # When the caller's current utterance began: the first voiced frame after UTTERANCE_GAP of
        # quiet. Gemini's transcription of it arrives seconds later; the transcript is timed from here.
        self.utterance_started_at: float | None = None
        self.enabled = True
        self.masked = False  # Gemini hears silence in place of the caller (a prompt that must not be cut)
        self.secure = False  # Gemini and the recording hear silence (secure keypad entry)
        self.held = False  # Gemini hears silence while the caller is on hold (a warm transfer)
        self._extra = bytearray()  # audio mixed into what Gemini hears (a supervisor on the line), at `rate`

    def push(self, payload: bytes) -> None:
        """Take caller audio as it came off the wire (any size)."""
        if not payload:
            return
        if self._odd:
            payload, self._odd = self._odd + payload, b""
        pcm = self._decode(payload)
        if len(pcm) % 2:  # odd-sized linear payloads: keep the stray byte for the next one
            pcm, self._odd = pcm[:-1], pcm[-1:]
        if self.secure:  # secure entry: neither Gemini nor the recording hears the line (keyed digits)
            pcm = bytes(len(pcm))
            voiced = False
        else:
            voiced = self._loud(payload if self._g711 else pcm)
        self.frames_in += 1
        self._pcm_in += len(pcm)
        self._on_caller_pcm(pcm)
        if self._loop is None:  # not get_running_loop() per frame: on Python 3.11 it calls getpid()
            self._loop = asyncio.get_running_loop()
        now = self._loop.time()
        if voiced:
            if self.last_voice_at is None or now - self.last_voice_at > UTTERANCE_GAP:
                self.utterance_started_at = now
            self.last_voice_at = now
        if self.masked or self.held:
            pcm = bytes(len(pcm))
        self._pending += self._resampler.process(pcm)
        self._batch(self._size_at(now, voiced))

    def end_of_turn_silence(self, silence_ms: int) -> None:
        """The agent's end-of-turn silence: the quiet after speech goes up in 20 ms messages this long
        (plus QUICK_MARGIN_S), then in quiet batches."""
        self.quick_after_s = silence_ms / 1000 + QUICK_MARGIN_S

    def _size_at(self, now: float, voiced: bool) -> int:
        """The message size for what is pending now (module docstring)."""
        voice, started = self.last_voice_at, self.utterance_started_at
        if voice is None or started is None:
            return self._batch_bytes
        if voiced:
            return self._quick_bytes if now - started < ONSET_QUICK_S else self._speech_bytes
        return self._quick_bytes if now - voice < self.quick_after_s else self._batch_bytes

    def mix_in(self, pcm: bytes) -> None:
        """Audio Gemini should hear along with the caller (a supervisor who took over the call), at
        `rate`: summed into the next batches. Bounded: a burst delays it by MAX_EXTRA_BATCHES at most."""
        self._extra += pcm
        if len(self._extra) > MAX_EXTRA_BATCHES * self._batch_bytes:
            del self._extra[: len(self._extra) - self._batch_bytes]

    def _mixed(self, batch: bytes) -> bytes:
        extra = bytes(self._extra[: len(batch)])
        del self._extra[: len(batch)]
        mixed = np.frombuffer(batch, dtype="<i2").astype(np.int32)
        mixed[: len(extra) // 2] += np.frombuffer(extra, dtype="<i2")
        return np.clip(mixed, -32768, 32767).astype("<i2").tobytes()

    def _batch(self, size: int) -> None:
        """Send what is pending in whole multiples of `size` bytes, as one message.

        More than one `size` is pending only where the size just fell (a caller's first spoken frame
        after a quiet batch began, the first quiet frame after speech): those go up at once, so one
        message carries them as promptly as several would, for one WebSocket frame and TLS write
        instead of up to five (vs_pipecat.py with 200 ms quiet batches, flushed in 20 ms pieces,
        cost more CPU per call than 100 ms ones, issue 16)."""
        whole = len(self._pending) // size * size
        if not whole:
            return
        batch = bytes(self._pending[:whole])
        if self._extra:
            batch = self._mixed(batch)
        del self._pending[:whole]
        if not self._queue and not self._sending and self._send_now is not None and self._send_now(batch):
            return  # sent from here: nothing waits, the sender task stays asleep
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(batch)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    # --- silent lines ---------------------------------------------------------------------------
    def keep_fed(self, connected: asyncio.Event) -> None:
        """Feed comfort silence whenever the line goes quiet, until `stop_feeding` (module docstring).

        Checked every FEED_TICK_MS (or every batch, if shorter) by the loop's `FeedClock`, one timer for
        every call: a long quiet batch does not delay the silence that ends a turn. It compares how
        much caller audio arrived with how much time passed, so a sender of large chunks (100 ms, 1 s)
        is not mistaken for a silent line; `push` only adds up byte counts.
        """
        self.stop_feeding()
        loop = asyncio.get_running_loop()
        self._connected = connected
        self._seen = self._pcm_in
        self._covered = self._last_tick = loop.time()
        self._clock = FeedClock.of(loop, self._period)
        self._clock.add(self)

    def stop_feeding(self) -> None:
        """The call is over: no more comfort silence."""
        if self._clock is not None:
            self._clock.discard(self)
            self._clock = None

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        got = self._pcm_in - self._seen
        if got:
            # Audio that arrived since the last tick covers the line from then (or from where
            # the audio before it ended) for its own duration.
            self._seen = self._pcm_in
            self._covered = max(self._covered, self._last_tick) + got / self._wire_bytes_per_s
            self._filling = False
        self._last_tick = now
        behind = now - self._covered
        if self._connected is None or not self._connected.is_set():
            self._covered = now  # nobody is listening (reconnecting): owe no silence for this time
        elif self._filling or behind > SILENCE_GAP_S:
            # Whole batches up to now (real time once started; the first time they also cover the
            # gap it took to notice), never more than MAX_CATCH_UP_S at once. Zeros go through the
            # resampler like wire audio: they complete the partial batch and push out the filter's
            # tail of the last word, so Gemini hears one continuous stream.
            batches = min(int(behind / self._period), int(MAX_CATCH_UP_S / self._period))
            for _ in range(batches):
                self._pending += self._resampler.process(self._silence)
            self._covered = max(self._covered + batches * self._period, now - self._period)
            self.silence_batches += batches
            self._filling = True
            # The silence after an utterance ends its turn: it goes up as quickly as live audio would.
            self._batch(self._size_at(now, False))

    def clear_backlog(self) -> None:
        """Forget queued audio (after a reconnect, stale speech would confuse the new session)."""
        self.dropped += len(self._queue)
        self._queue.clear()

    async def run(
        self,
        send: Callable[[bytes], Awaitable[None]],
        connected: asyncio.Event,
        send_now: Callable[[bytes], bool] | None = None,
    ) -> None:
        """Send batches while Gemini is connected; wait (dropping the oldest) while it is not.

        With `send_now`, a batch made while nothing waits in the queue is sent where it is made (a
        transport's call stack, or the comfort-silence timer), so the common case costs no wake-up of
        this task; `send_now` declines (False) whenever `send` must do it, and the batch queues here.
        """
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._send_now = send_now
        try:
            while True:
                if not self._queue:
                    self._wake = self._loop.create_future()
                    try:
                        await self._wake
                    finally:
                        self._wake = None
                while self._queue:
                    await connected.wait()
                    chunk = self._queue.popleft()
                    self._sending = True
                    try:
                        await send(chunk)
                    except Exception:  # noqa: BLE001 - the session is reconnecting; live.py handles it
                        log.debug("audio send failed; waiting for the session", exc_info=True)
                        self._queue.appendleft(chunk)
                        connected.clear()
                    finally:
                        self._sending = False
                    if self._queue:
                        # A backlog (after connecting or reconnecting) is sent one chunk per loop turn, so
                        # it never holds up other calls' 20 ms frames; a lone message costs no extra turn.
                        await asyncio.sleep(0)
        finally:
            self._send_now = None  # the call is over: batches made now only queue
