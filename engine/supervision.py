"""A live call listens for its supervisors (see `calls/supervision.py` for the route in).

Whisper: a note joins the agent's instructions. Listen: `engine/listeners.py`. Take over: one
supervisor at a time talks to the caller instead of the model. The model's audio (and its
transcription) is dropped while the supervisor has the call, the supervisor's microphone goes to
the caller through the playout and is mixed into what Gemini hears, so the model keeps the whole
conversation; on hand back it is told to carry on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from channels.layers import get_channel_layer

from calls.supervision import (
    ENDED,
    HAND_BACK,
    LISTEN,
    LISTEN_RATE,
    REFUSED,
    STATE,
    SUPERVISOR_AUDIO,
    TAKE_OVER,
    UNLISTEN,
    WHISPER,
    group_for,
)
from engine.codec import StreamResampler

from .listeners import Listeners
from .tools import failed

if TYPE_CHECKING:
    from .call import CallHandle

log = logging.getLogger(__name__)

# Told to the model when the supervisor hands the call back: it heard both sides all along.
HANDED_BACK = (
    "A human supervisor was talking with the caller and has now handed the call back to you. "
    "You heard what they said. Continue helping the caller from where the conversation is now."
)
# The answer to a tool call the model makes while a supervisor has the call (no end_call, no transfer).
TOOLS_WHILE_TAKEN_OVER = failed(
    "A human supervisor is talking with the caller now: nothing was done. Wait until the call is handed "
    "back to you.",
    retryable=False,
)
PREBUFFER_MS = 120  # the supervisor's voice starts playing once this much arrived: a jitter cushion
UTTERANCE_GAP = 0.7  # as the uplink's: quiet longer than this starts a new utterance
VOICE_PEAK = 1500  # as the uplink's: a supervisor chunk above it is speech (for the transcript)
SUPERVISOR_GONE_S = 10.0  # no microphone audio this long: the agent takes the call back
MAX_CHUNK_BYTES = LISTEN_RATE * 2  # one second of microphone audio per message at most


class TakeOver:
    """The supervisor who has the call, and their voice on its way to the caller."""

    def __init__(self, handle: CallHandle, channel: str, by: str) -> None:
        self.handle = handle
        self.channel = channel
        self.by = by
        rate = handle.port.wire.rate
        self._resampler = StreamResampler(LISTEN_RATE, rate)  # to the line
        self._to_gemini = StreamResampler(LISTEN_RATE, handle.uplink.rate)  # to what Gemini hears
        self._frame = rate * handle.port.wire.frame_ms // 1000 * 2
        self._prebuffer = rate * PREBUFFER_MS // 1000 * 2
        self._pending = bytearray()
        self._started = False
        loop = asyncio.get_running_loop()
        self.last_audio_at = loop.time()

    def feed(self, pcm16k: bytes) -> None:
        """Microphone audio: to Gemini (mixed with the caller) and, in whole frames, to the caller."""
        loop = asyncio.get_running_loop()
        self.last_audio_at = loop.time()
        samples = np.frombuffer(pcm16k[: len(pcm16k) // 2 * 2], dtype="<i2")
        if samples.size and int(np.abs(samples.astype(np.int32)).max()) > VOICE_PEAK:
            now, voice = self.last_audio_at, self.handle.human_voice
            began = voice[0] if voice is not None and now - voice[1] <= UTTERANCE_GAP else now
            self.handle.human_voice = (began, now)
        self.handle.uplink.mix_in(self._to_gemini.process(pcm16k))
        self._pending += self._resampler.process(pcm16k)
        if not self._started and len(self._pending) < self._prebuffer:
            return
        self._started = True
        whole = len(self._pending) // self._frame * self._frame
        if whole:
            self.handle.playout.add_pcm(bytes(self._pending[:whole]))
            del self._pending[:whole]


class Desk:
    """What supervisors are doing with one call: who listens, who (if anyone) took it over."""

    def __init__(self, handle: CallHandle, layer: Any) -> None:
        self.handle = handle
        self.layer = layer
        self.listeners = Listeners(handle, layer)
        self.taken: TakeOver | None = None
        self._watch: asyncio.Task | None = None

    async def on_message(self, message: dict) -> None:
        kind = message.get("type")
        channel, by = str(message.get("channel", "")), str(message.get("by", ""))
        if kind == WHISPER:
            await self.handle.whisper(str(message.get("text", "")), by)
        elif kind == SUPERVISOR_AUDIO:
            if self.taken is not None and channel == self.taken.channel:
                pcm = message.get("pcm")
                if isinstance(pcm, bytes) and len(pcm) <= MAX_CHUNK_BYTES:
                    self.taken.feed(pcm)
        elif kind == LISTEN and channel:
            if self.listeners.add(channel):
                log.info("%s listens in (%d listening)", by or "a supervisor", len(self.listeners.channels))
                await self._tell(channel, self._state())
        elif kind == UNLISTEN:
            self.listeners.drop(channel)
        elif kind == TAKE_OVER and channel:
            await self.take_over(channel, by)
        elif kind == HAND_BACK:
            if self.taken is not None and channel == self.taken.channel:
                await self.hand_back(f"{self.taken.by} handed the call back to the agent")

    def _state(self) -> dict:
        if self.taken is None:
            return {"type": STATE, "taken_by": "", "holder": ""}
        return {"type": STATE, "taken_by": self.taken.by, "holder": self.taken.channel}

    async def _tell(self, channel: str, message: dict) -> None:
        try:
            await self.layer.send(channel, message)
        except Exception:  # noqa: BLE001 - that supervisor's socket is gone
            log.debug("telling %s failed", channel, exc_info=True)

    async def _announce(self) -> None:
        """The new state to every listener, and to the supervisor who has the call."""
        state = self._state()
        try:
            await self.layer.group_send(self.listeners.group, state)
        except Exception:  # noqa: BLE001 - listeners refresh their state when they listen again
            log.debug("announcing the supervision state failed", exc_info=True)
        if self.taken is not None and self.taken.channel not in self.listeners.channels:
            await self._tell(self.taken.channel, state)

    async def take_over(self, channel: str, by: str) -> None:
        handle = self.handle
        if self.taken is not None and self.taken.channel != channel:
            await self._tell(
                channel, {"type": REFUSED, "reason": f"{self.taken.by} has already taken over this call."}
            )
            return
        if self.taken is not None:
            return
        if handle.ended:
            await self._tell(channel, {"type": REFUSED, "reason": "This call has ended."})
            return
        await handle.playout.flush()  # what the model was saying stops now
        handle.playout.muted = True
        self.taken = TakeOver(handle, channel, by)
        handle.transcript.close("agent", handle.elapsed_ms())
        handle.transcript.note("system", f"{by or 'A supervisor'} took over the call", handle.elapsed_ms())
        log.info("%s took over the call", by or "a supervisor")
        self._watch = asyncio.create_task(self._watch_supervisor(), name="take-over-watch")
        await self._announce()

    async def hand_back(self, note: str) -> None:
        handle = self.handle
        taken, self.taken = self.taken, None
        if taken is None:
            return
        if self._watch is not None and self._watch is not asyncio.current_task():
            self._watch.cancel()
        self._watch = None
        if handle.generating:
            handle.playout.unmute_after_reply = True  # the reply the caller did not hear stays unheard
        else:
            handle.playout.muted = False
        handle.transcript.close("human", handle.elapsed_ms())
        handle.transcript.note("system", note, handle.elapsed_ms())
        log.info("%s", note)
        await self._announce()
        if handle.link is not None and not handle.ended:
            try:
                await handle.link.send_text(HANDED_BACK)
            except Exception:  # noqa: BLE001 - the model hears the caller again all the same
                log.warning("could not tell the agent it has the call back")

    async def _watch_supervisor(self) -> None:
        loop = asyncio.get_running_loop()
        while self.taken is not None:
            await asyncio.sleep(1.0)
            if self.taken is not None and loop.time() - self.taken.last_audio_at > SUPERVISOR_GONE_S:
                await self.hand_back(
                    f"{self.taken.by}'s microphone went silent: the agent took the call back"
                )

    async def close(self) -> None:
        """The call ended: listeners and the supervisor hear so."""
        ended = {"type": ENDED}
        channels = list(self.listeners.channels)
        if self.taken is not None and self.taken.channel not in channels:
            channels.append(self.taken.channel)
        if self._watch is not None:
            self._watch.cancel()
        self.listeners.stop()
        for channel in channels:
            await self._tell(channel, ended)


def input_turn(handle: CallHandle, caller_started_ms: int | None) -> tuple[str, int | None]:
    """Who said what Gemini just transcribed, and when it began: the supervisor who took over when
    their voice is the more recent one (Gemini hears both mixed), else the caller."""
    human = handle.human_voice
    caller = handle.uplink.last_voice_at
    if human is None or (caller is not None and caller > human[1]):
        return "caller", caller_started_ms
    ago = asyncio.get_running_loop().time() - human[0]
    return "human", max(0, handle.elapsed_ms() - int(ago * 1000))


async def listen(handle: CallHandle) -> None:
    """Until cancelled (the call ended): apply what supervisors send to this call's group."""
    layer = get_channel_layer()
    if layer is None or handle.call_id is None:
        return
    channel = await layer.new_channel()
    group = group_for(handle.call_id)
    await layer.group_add(group, channel)
    desk = Desk(handle, layer)
    try:
        while True:
            message = await layer.receive(channel)
            try:
                await desk.on_message(message)
            except Exception:  # noqa: BLE001 - one bad message must not stop supervision of the call
                log.exception("supervisor message %s failed", message.get("type"))
    finally:
        try:
            await asyncio.shield(desk.close())
            await layer.group_discard(group, channel)
        except BaseException:  # noqa: BLE001 - the layer may be gone at shutdown; groups expire anyway
            log.debug("leaving %s failed", group, exc_info=True)
