"""Engine benchmark: CPU per call-second and added latency per 20 ms frame, for 1, 10 and 50 calls.

    .venv/bin/python bench/engine.py [--calls 1,10,50] [--seconds 20]

The Gemini emulator runs in its own process (bench profile: energy VAD, canned replies), so its
CPU is not ours. Each call is a real engine call (`start_call`) on an in-process u-law line with a
simulated caller speaking every few seconds. The simulated callers' own cost is measured side by
side (the same audio pushed into a handle that discards it) and subtracted.
Added latency per frame: how late each 20 ms frame left the pacer after its deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import EmulatorProcess, percentile, proc_rss_mb, self_cpu_seconds, setup_django  # noqa: E402


class NullHandle:
    def push_audio(self, payload: bytes) -> None:
        pass


async def caller_loop(caller, seconds: float, phrase: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    await caller.silence(2.0)
    while loop.time() < end:
        await caller.say(phrase, then_silence=3.0)


async def run_calls(n: int, seconds: float, warmup: float = 5.0) -> dict:
    """n simultaneous calls; the callers start over 2 s, as calls arrive in life.

    Frame lateness is reported for the steady state (after `warmup` seconds, when every call is
    connected) and, separately, for the set-up phase, when TLS handshakes and session set-up of
    all n calls compete with the first calls' frames.
    """
    from engine import CallRequest, start_call
    from telephony.loopback import LoopbackPort, SimulatedCaller, flite_pcm

    phrase = "hello can you hear me"
    flite_pcm(phrase, 8000)  # warm the cache outside the measurement
    ports, handles = [], []

    async def one(i: int) -> None:
        await asyncio.sleep(2.0 * i / n)
        port = LoopbackPort()
        handle = await start_call(
            CallRequest(carrier="sip", from_number="+15550000000", to_number="bench"), port
        )
        assert handle.accepted, "the bench agent refused a call"
        ports.append(port)
        handles.append(handle)
        await caller_loop(SimulatedCaller(handle, port.wire), seconds, phrase)

    async def split_warmup() -> list[float]:
        await asyncio.sleep(warmup)
        setup = [ms for h in handles for ms in h.playout.lateness_ms]
        for h in handles:
            h.playout.lateness_ms.clear()
        return setup

    cpu0 = self_cpu_seconds()
    setup_phase, *_ = await asyncio.gather(split_warmup(), *(one(i) for i in range(n)))
    cpu = self_cpu_seconds() - cpu0
    lateness = [ms for h in handles for ms in h.playout.lateness_ms]
    frames = sum(p.frames for p in ports)
    for h in handles:
        h.remote_hangup("bench over")
    await asyncio.gather(*(h.wait() for h in handles))
    return {"cpu": cpu, "lateness": lateness, "setup": setup_phase, "frames": frames}


async def run_callers_only(n: int, seconds: float) -> float:
    from engine.port import WireFormat
    from telephony.loopback import SimulatedCaller

    cpu0 = self_cpu_seconds()
    wire = WireFormat("ulaw", 8000)
    await asyncio.gather(
        *(
            caller_loop(SimulatedCaller(NullHandle(), wire), seconds, "hello can you hear me")
            for _ in range(n)
        )
    )
    return self_cpu_seconds() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    setup_django()
    emulator = EmulatorProcess("bench")
    import os

    os.environ.update(emulator.env())
    from django.conf import settings

    for key, value in emulator.env().items():
        setattr(settings, key, value)
    from agents.models import Agent, PhoneNumber

    agent = Agent.objects.create(
        name="Bench",
        system_prompt="Bench agent.",
        greeting="Hello, this is the benchmark line.",
        max_concurrent_calls=1000,
        record_calls=True,
    )
    PhoneNumber.objects.create(carrier="sip", number="bench", agent=agent)
    print(
        f"engine benchmark: {args.seconds:.0f} s calls, u-law 8 kHz, emulator in its own process (bench profile)"
    )
    print(
        f"{'calls':>5} {'engine CPU %/call':>18} {'callers CPU %/call':>19} {'frame p50 ms':>13} "
        f"{'frame p99 ms':>13} {'set-up p99 ms':>14} {'frames':>8} {'RSS MB':>7}"
    )
    try:
        for n in [int(x) for x in args.calls.split(",")]:
            result = asyncio.run(run_calls(n, args.seconds))
            callers = asyncio.run(run_callers_only(n, args.seconds))
            engine_pct = max(0.0, result["cpu"] - callers) / (n * args.seconds) * 100
            callers_pct = callers / (n * args.seconds) * 100
            print(
                f"{n:>5} {engine_pct:>18.3f} {callers_pct:>19.3f} {percentile(result['lateness'], 50):>13.2f} "
                f"{percentile(result['lateness'], 99):>13.2f} {percentile(result['setup'], 99):>14.2f} "
                f"{result['frames']:>8} {proc_rss_mb(os.getpid()):>7.0f}",
                flush=True,
            )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
