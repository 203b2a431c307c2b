"""The project's RTP path as a row of `bench/vs_pipecat.py`: `manage.py runasterisk` (ARI + externalMedia
RTP, G.711 u-law) against the in-repo Asterisk emulator, with the same callers and the same figures as the
Twilio rows.

    .venv/bin/python bench/rtp_side.py      # alone: levels 1 and 10, 20 s, turns then barge-in

`runasterisk` runs as a child process (its CPU and RSS are the row's); the Asterisk emulator runs in a
thread of this process and the callers run on the emulator's own loop, so every time below is taken on
the emulator's side, on the monotonic clock, by bench-only hooks put on the instances (no emulator or
product code changes):
- the phone's mic queue is replaced by a `Mouth` that times when the mixer takes each 20 ms frame (the
  mixer sends it on the RTP leg in the same tick): a phrase starts at its first frame, ends at its last;
- each RTP leg bridged to a bench phone has its `accept_wire` wrapped: the arrival of every packet from
  runasterisk, its seconds of audio and whether its 20 ms are loud (RMS > LOUD on the decoded 16-bit PCM,
  the Twilio ear's test). This is arrival at the emulator's socket, as the Twilio ear times arrival at
  its playout buffer; the emulator then plays it in its next 20 ms tick.

RTP has no `clear`: the project flushes a reply spoken over by no longer sending its audio. So
`clear_p50` is the median, over barge-ins that spoke over a playing reply, of the time from the barge-in
phrase's first frame to the arrival of the reply's last loud frame before the barge-in phrase ended
(when agent audio stopped reaching the caller); `after_clear_s` is 0.0, as nothing arrives after that
by definition.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, proc_rss_mb  # noqa: E402

if TYPE_CHECKING:
    from bench.vs_pipecat import Ear
    from emulators.asterisk.legs import RtpLeg
    from emulators.asterisk.server import Channel


def prepare_rtp_db() -> None:
    """The agent the bench's extension (100@bench) rings, set up as `vs_pipecat.prepare_db` sets up its
    Twilio number's: the same short greeting and end-of-turn silence."""
    from agents.models import Agent, Extension

    if Extension.objects.filter(context="bench", extension="100").exists():
        return
    agent = Agent.objects.create(
        name="Bench RTP agent",
        system_prompt="You are a benchmark agent.",
        greeting="Hello.",
        silence_duration_ms=300,
        max_concurrent_calls=100000,
    )
    Extension.objects.create(context="bench", extension="100", agent=agent)


class Mouth(deque):
    """Stands in for `Phone.mic`: the mixer pops one 20 ms frame per tick and sends it on the RTP leg in
    that tick, so a pop is when that audio left the phone. Records phrase starts and ends in the ear."""

    def __init__(self, ear: Ear) -> None:
        super().__init__()
        self.ear = ear
        self.quiet = asyncio.Event()  # set once the last queued frame has gone out
        self.quiet.set()

    def popleft(self) -> bytes:
        frame = super().popleft()
        now, ear = time.monotonic(), self.ear
        if len(ear.speech_starts) == len(ear.speech_ends):
            ear.speech_starts.append(now)
        if not self:
            ear.speech_ends.append(now)
            self.quiet.set()
        return frame


def listen(leg: RtpLeg, ear: Ear) -> None:
    """Time every packet runasterisk sends on `leg` as it arrives (bench-only wrap of the instance)."""
    import numpy as np

    from bench.vs_pipecat import LOUD
    from emulators.wire.g711 import DECODE

    accept, decode, rate = leg.accept_wire, DECODE[leg.codec], leg.rate

    def timed_accept(payload: bytes) -> None:
        now = time.monotonic()
        pcm = np.frombuffer(decode(payload), dtype="<i2").astype(np.float32)
        ear.agent_seconds += pcm.size / rate
        if pcm.size and float(np.sqrt(np.mean(pcm * pcm))) > LOUD:
            ear.loud.append(now)
            ear.spoke.set()
        accept(payload)

    leg.accept_wire = timed_accept


async def either(a: asyncio.Event, b: asyncio.Event, timeout: float | None = None) -> None:
    """Until `a` or `b` is set (or `timeout`): a caller stops waiting when its call ends."""
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()


def clear_latencies(ear: Ear, barge_after: float) -> list[float]:
    """Per barge-in over a playing reply: its first frame to the last loud agent frame before it ended
    (ms). A reply was playing when a loud frame came in the `barge_after` (+0.2 s) before it: the caller
    speaks `barge_after` after the reply's first loud frame; a reply that never came is skipped."""
    from bench.vs_pipecat import first_after

    out = []
    for start in ear.barge_starts:
        end = first_after(ear.speech_ends, start, start + 5.0) or start + 1.5
        over = [t for t in ear.loud if start <= t < end]
        if over and any(start - barge_after - 0.2 <= t < start for t in ear.loud):
            out.append((over[-1] - start) * 1000)
    return out


class RtpSide:
    """runasterisk (child process) + the Asterisk emulator (in a thread) + the bench's callers, as one row
    of vs_pipecat."""

    name = "rtp"

    def __init__(
        self, gemini_env: dict[str, str], data_dir: str, extra_env: dict[str, str] | None = None
    ) -> None:
        """Start the emulator and runasterisk (transport "rtp": u-law), wait until its ARI app is up.
        `extra_env` (e.g. REDIS_URL) goes to runasterisk; a Celery worker, if any, is the caller's to
        start: put its pid in `helper_pids` to have its CPU shown apart."""
        from bench.load_rtp import start_runasterisk
        from emulators.asterisk.testing import start_in_thread

        self.helper_pids: tuple[int, ...] = ()
        self.asterisk = start_in_thread(users={"bench": "bench"})
        self._ears: dict[str, Ear] = {}  # emulator channel id -> the ear of the bench's call on it
        self._hook_bridging()
        env = {**gemini_env, **(extra_env or {}), "DATA_DIR": data_dir, "DEBUG": "0"}
        log = open(Path(data_dir) / "runasterisk.log", "wb")  # noqa: SIM115 - the child's lifetime
        self.proc = start_runasterisk(env, self.asterisk.ari_url, "rtp", log)
        self.pid = self.proc.pid
        try:
            self.asterisk.wait_for(lambda: self.asterisk.emulator.app_registered("bench"), 60, "runasterisk")
        except AssertionError:
            self.stop()
            raise

    def _hook_bridging(self) -> None:
        """Listen on each RTP leg as it is bridged to a bench phone, before it can carry a frame to it:
        wraps the emulator instance's ARI addChannel, the one place a leg joins a phone."""
        from emulators.asterisk.legs import RtpLeg

        emulator = self.asterisk.emulator
        add = emulator._op_add_channel

        async def add_and_listen(params: dict, id: str) -> None:  # noqa: A002 - ARI's name
            result = await add(params, id)
            bridge = emulator.bridges.get(id)
            for chan in bridge.channels if bridge else []:
                ear = self._ears.get(chan.id)
                for leg in chan.phone.legs if ear and chan.phone else []:
                    if isinstance(leg, RtpLeg) and "accept_wire" not in vars(leg):
                        listen(leg, ear)
            return result

        emulator._op_add_channel = add_and_listen

    async def _on_emulator(self, coro: Any) -> Any:
        """Run a coroutine on the emulator's loop, awaited from the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.asterisk.loop))

    async def _callers(
        self, n: int, seconds: float, speech: bytes, barge: bytes, barge_in: bool
    ) -> tuple[list[Channel], list[Ear], int]:
        """On the emulator's loop: place n calls at once and run their callers as `vs_pipecat.caller`
        runs a Twilio caller. Returns the calls, their ears and the phrases said."""
        from bench import vs_pipecat as vs

        emulator = self.asterisk.emulator
        chans = [emulator.place_call("bench", "100", f"+1555{i:07d}", app="bench") for i in range(n)]
        ears = []
        for chan in chans:  # before the mixer's next tick: nothing is missed
            ear = vs.Ear()
            chan.phone.mic = Mouth(ear)
            self._ears[chan.id] = ear
            ears.append(ear)

        async def say(chan: Channel, pcm: bytes) -> None:
            chan.phone.mic.quiet.clear()
            chan.phone.say(pcm)
            await either(chan.phone.mic.quiet, chan.phone.ended)

        async def caller(chan: Channel, ear: Ear, delay: float) -> int:
            phone = chan.phone
            await either(phone.answered, phone.ended)
            end, said = time.monotonic() + vs.GREETING_S + seconds, 0  # the same for every caller
            await asyncio.sleep(delay)  # the greeting, then this caller's phase of the cycle
            while time.monotonic() < end and not phone.ended.is_set():
                await say(chan, speech)
                said += 1
                if barge_in:
                    ear.spoke.clear()
                    await either(ear.spoke, phone.ended, 3.0)  # the reply starts
                    await asyncio.sleep(vs.BARGE_AFTER_S)
                    k = len(ear.speech_starts)
                    await say(chan, barge)
                    if len(ear.speech_starts) > k:  # its first frame went out
                        ear.barge_starts.append(ear.speech_starts[k])
                await asyncio.sleep(vs.QUIET_S)
            return said

        said = await asyncio.gather(
            *(
                caller(c, e, vs.first_phrase_delay(i, n))
                for i, (c, e) in enumerate(zip(chans, ears, strict=True))
            )
        )
        return chans, ears, sum(said)

    async def _hang_up(self, chans: list[Channel]) -> None:
        emulator = self.asterisk.emulator
        await asyncio.gather(*(emulator.caller_hangup(c) for c in chans), return_exceptions=True)
        for chan in chans:
            self._ears.pop(chan.id, None)

    async def run_level(
        self, n: int, seconds: float, speech8k: bytes, barge8k: bytes, barge_in: bool
    ) -> dict:
        """N calls at once, measured as `vs_pipecat.run_level` measures its Twilio calls (the same keys)."""
        from bench import vs_pipecat as vs
        from emulators.asterisk.legs import RtpLeg
        from engine.codec import resample

        speech, barge = resample(speech8k, 8000, 16000), resample(barge8k, 8000, 16000)  # the phone's rate
        idle_rss = proc_rss_mb(self.pid)
        level = asyncio.ensure_future(self._on_emulator(self._callers(n, seconds, speech, barge, barge_in)))
        usage = await vs.steady_usage(self.pid, self.helper_pids, n, idle_rss, level.done)
        chans, ears, phrases = level.result()
        early = sum(c.phone.ended.is_set() for c in chans)  # before the bench hung up
        await self._on_emulator(self._hang_up(chans))
        await asyncio.sleep(2.0)
        legs = [[leg for leg in c.phone.legs if isinstance(leg, RtpLeg)] for c in chans]
        faults = ("malformed", "wrong_payload_type", "dynamic_pt_dropped", "wrong_frame_size")
        failed = sum(any(getattr(leg.stats, f) for f in faults) for ls in legs for leg in ls)
        return vs.figures(
            ears,
            phrases,
            [ms for e in ears for ms in clear_latencies(e, vs.BARGE_AFTER_S)],
            n=n,
            streams=sum(any(leg.stats.frames_in for leg in ls) for ls in legs),
            **usage,
            after_clear_s=0.0,
            errors=early + failed,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        with contextlib.suppress(Exception):
            self.asterisk.stop()


async def _main(data_dir: str) -> None:
    from bench import vs_pipecat as vs
    from bench.common import EmulatorProcess
    from emulators.carrier.phone import flite_pcm

    gemini = EmulatorProcess(
        profile="bench", max_sessions=10000, scenario=str(ROOT / "bench" / "neutral_scenario.json")
    )
    side = None
    try:
        side = RtpSide(gemini.env(), data_dir)
        phrase = await asyncio.to_thread(flite_pcm, "hello can you hear me I would like some help please")
        speech, barge = vs.fit(phrase, vs.SPEECH_S, 8000), vs.fit(phrase, 1.0, 8000)
        print(f"runasterisk pid {side.pid}; warming up", flush=True)
        await side.run_level(1, 6.0, speech, barge, False)
        for barge_in in (False, True):
            for n in (1, 10):
                print(
                    f"barge_in={barge_in}", await side.run_level(n, 20.0, speech, barge, barge_in), flush=True
                )
                await asyncio.sleep(3.0)
    finally:
        if side is not None:
            side.stop()
        gemini.stop()


if __name__ == "__main__":
    from bench.common import setup_django

    data = setup_django()  # the ORM outside the event loop
    prepare_rtp_db()
    asyncio.run(_main(data))
