"""The one pacer: agent audio to the carrier, one frame at a time on a real-time clock.

Gemini sends audio in bursts, several times faster than real time. The playout buffer absorbs the
bursts and a clock with absolute deadlines (no drift) hands the transport a frame as each deadline
comes, so a barge-in only has to flush this buffer and tell the carrier to drop its few queued frames.
A frame is the wire's `frame_ms` (20 ms; 40 for Twilio, which buffers) when that much is buffered,
else whatever whole 20 ms units are: audio that trickles in is never held back to fill a long frame
(the first words of a reply would wait for it). A wire with `lead_ms` (Twilio) gets each frame that
far before its deadline, so a reply's start goes out at once; `clear` drops the lead with the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from engine.codec import ENCODERS, StreamResampler

from .port import MediaPort

log = logging.getLogger(__name__)

GEMINI_OUTPUT_RATE = 24000
LATENESS_FRAMES = 3000  # a minute of agent audio
UNIT_MS = 20  # the shortest frame sent; every frame is a whole number of these


class Playout:
    def __init__(self, port: MediaPort, on_frame: Callable[[bytes, float], None] | None = None) -> None:
        self.port = port
        self.wire = port.wire
        self._resampler = StreamResampler(GEMINI_OUTPUT_RATE, self.wire.rate)
        self._encode = ENCODERS[self.wire.encoding]
        self._pcm_frame = self.wire.rate * self.wire.frame_ms // 1000 * 2
        self._unit = self.wire.rate * min(UNIT_MS, self.wire.frame_ms) // 1000 * 2
        self._buffer = bytearray()  # linear PCM at the wire rate
        self._on_frame = on_frame  # (pcm frame, send time) for the recording and metrics
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self._pending_mark: str | None = None
        self._tail = False  # True when a short last piece may be padded and sent (end of a turn)
        self._marks_sent: list[str] = []
        self._marks_played: set[str] = set()
        self._mark_event = asyncio.Event()
        self._mark_tasks: set[asyncio.Task] = set()  # marks being sent (held so they are not collected)
        self.frames_out = 0
        self.late_frames = 0
        # Per frame, how late after its deadline it went out: the last LATENESS_FRAMES only, so a long
        # call's memory does not grow with its length (the benchmarks read it).
        self.lateness_ms: deque[float] = deque(maxlen=LATENESS_FRAMES)
        self._task: asyncio.Task | None = None
        self.muted = False  # a supervisor took over: the model's audio is dropped (engine/supervision.py)
        self.unmute_after_reply = False  # handed back mid-reply: that reply stays unheard, the next plays

    # --- feeding ------------------------------------------------------------------------------
    def add_model_audio(self, pcm24k: bytes) -> None:
        """Queue agent audio as Gemini sent it (24 kHz PCM)."""
        if self.muted:
            return
        self._tail = False
        pcm = self._resampler.process(pcm24k)
        if pcm:
            self._buffer += pcm
            self._idle.clear()
            self._wake.set()

    def add_pcm(self, pcm: bytes) -> None:
        """Queue complete linear PCM already at the wire rate (pre-rendered prompts, turn tails)."""
        self._tail = True
        if pcm:
            self._buffer += pcm
            self._idle.clear()
            self._wake.set()

    def end_of_generation(self) -> None:
        """All audio of the reply has arrived: release the resampler's tail now, not at turnComplete.

        Gemini holds turnComplete until it assumes playback ended, so waiting for it would leave
        the pacer dry and send the reply's last few frames late.
        """
        if self.muted:
            self._muted_reply_ended()
            return
        self.add_pcm(self._resampler.flush())
        self._resampler = StreamResampler(GEMINI_OUTPUT_RATE, self.wire.rate)

    def end_of_turn(self, name: str) -> None:
        """The model finished a turn: flush the resampler tail and mark the point on the carrier."""
        self.end_of_generation()
        if self.port.supports_marks:
            if self._buffer:
                self._pending_mark = name
            else:
                self._send_mark_soon(name)

    async def flush(self) -> None:
        """Barge-in: drop everything not yet played, here and on the carrier (while muted nothing of
        the model's is queued: the supervisor's voice plays on)."""
        if self.muted:
            self._muted_reply_ended()
            return
        self._buffer.clear()
        self._resampler.reset()
        self._pending_mark = None
        self._idle.set()
        await self.port.clear()

    def _muted_reply_ended(self) -> None:
        """A reply the caller did not hear ended; if the call was handed back during it, the next plays."""
        if self.unmute_after_reply:
            self.muted = self.unmute_after_reply = False

    @property
    def buffered_ms(self) -> float:
        return len(self._buffer) / 2 / self.wire.rate * 1000

    # --- marks --------------------------------------------------------------------------------
    def _send_mark_soon(self, name: str) -> None:
        self._marks_sent.append(name)
        task = asyncio.ensure_future(self._send_mark(name))
        self._mark_tasks.add(task)
        task.add_done_callback(self._mark_tasks.discard)

    async def _send_mark(self, name: str) -> None:
        """Send a mark. One the carrier socket can no longer take counts as played: nobody will
        confirm it, and the end of the call (`drain`) must not wait its timeout out for it."""
        try:
            await self.port.mark(name)
        except Exception as exc:  # noqa: BLE001 - the socket is gone; the transport ends the call
            log.info("mark %s not sent (%s): the carrier socket is gone", name, type(exc).__name__)
            self.mark_played(name)

    def mark_played(self, name: str) -> None:
        self._marks_played.add(name)
        self._mark_event.set()

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued frame went out (and, with marks, was played). True if it did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout + self.buffered_ms / 1000
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - loop.time()))
            if self.port.supports_marks and self._marks_sent:
                last = self._marks_sent[-1]
                while last not in self._marks_played:
                    self._mark_event.clear()
                    await asyncio.wait_for(self._mark_event.wait(), max(0.0, deadline - loop.time()))
            else:
                # Without marks the carrier's own jitter buffer still holds a frame or two.
                await asyncio.sleep(2 * self.wire.frame_ms / 1000)
            return True
        except TimeoutError:
            log.warning("playout did not drain within %.1f s", timeout)
            return False

    # --- the clock ----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="playout")

    async def stop(self) -> None:
        self._closed = True
        self._wake.set()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.wire.frame_ms / 1000
        lead = self.wire.lead_ms / 1000  # frames go out this far before their deadline (WireFormat)
        limit = self.wire.max_payload_bytes
        deadline: float | None = None
        while not self._closed:
            if not self._buffer:
                self._idle.set()
                if self._pending_mark:
                    self._send_mark_soon(self._pending_mark)
                    self._pending_mark = None
                self._wake.clear()
                await self._wake.wait()
                deadline = None  # a new burst starts its own clock
                continue
            if len(self._buffer) < self._unit and not self._tail:
                # Mid-turn, a short piece: padding it would insert a gap. Wait a frame's time for more.
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), period)
                except TimeoutError:
                    self._tail = True
                continue
            now = loop.time()
            if deadline is None:
                deadline = now
            elif now < deadline - lead:
                await asyncio.sleep(deadline - lead - now)
                now = loop.time()
                if not self._buffer:  # flushed while we slept
                    continue
            lateness = max(0.0, (now - deadline) * 1000)
            self.lateness_ms.append(lateness)
            if lateness > self.wire.frame_ms:
                self.late_frames += 1
            size = min(self._pcm_frame, len(self._buffer) // self._unit * self._unit) or self._unit
            pcm = bytes(self._buffer[:size])
            del self._buffer[:size]
            if len(pcm) < size:
                pcm += b"\x00" * (size - len(pcm))  # pad the last frame of a turn
            payload = self._encode(pcm)
            try:
                if limit and len(payload) > limit:
                    for i in range(0, len(payload), limit):
                        await self.port.send_audio(payload[i : i + limit])
                else:
                    await self.port.send_audio(payload)
            except Exception:  # noqa: BLE001 - a dead carrier socket ends the call elsewhere
                log.warning("sending audio to the carrier failed; dropping playout", exc_info=True)
                self._buffer.clear()
                self._idle.set()
                continue
            self.frames_out += 1
            if self._on_frame:
                self._on_frame(pcm, max(now, deadline))  # when the caller hears it (a lead plays later)
            deadline += size / 2 / self.wire.rate
            if now - deadline > 0.2:  # the loop stalled: don't burst to catch up
                deadline = now
