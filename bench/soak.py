"""Leak check: 1,000 short calls in a row through one transport, memory and handles printed as they go.

    .venv/bin/python bench/soak.py [--calls 1000] [--parallel 10] [--every 100] [--trace]

Transport: the engine's in-process u-law line (`telephony.loopback`, as `bench/engine.py`), so every
call is a real `start_call` with a real Gemini session (the emulator in its own process, bench profile),
the recording on (written in chunks by the writer thread) and its records stored through the eager
Celery hand-off into SQLite. Each call: the caller streams silence until it has heard half a second of
the greeting, then hangs up. `--parallel` calls run at a time (waves, one after another) to keep the run
short; every `--every` calls the process's RSS, open file descriptors, asyncio tasks and threads are
printed, with RSS after glibc's `malloc_trim` (what live objects hold) and the count of live Python
allocations, which tell a leak (both grow) from the allocator keeping freed pages. The verdict compares RSS at the end with RSS after the first `--every` calls (warm-up): flat
means within 5 MB. `--trace` also prints the biggest allocation growth over the same span (tracemalloc).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import EmulatorProcess, proc_rss_mb, setup_django, trimmed_rss_mb  # noqa: E402

FLAT_MB = 5.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def bench_agent(max_calls: int = 1000) -> None:
    """The agent the bench dials (recording on), bound to the SIP user part "bench"."""
    from agents.models import Agent, PhoneNumber

    agent = Agent.objects.create(
        name="Bench",
        system_prompt="Bench agent.",
        greeting="Hello, this is the benchmark line.",
        max_concurrent_calls=max_calls,
        record_calls=True,
    )
    PhoneNumber.objects.create(carrier="sip", number="bench", agent=agent)


def start_emulator() -> EmulatorProcess:
    from django.conf import settings

    emulator = EmulatorProcess("bench")
    os.environ.update(emulator.env())
    for key, value in emulator.env().items():
        setattr(settings, key, value)
    return emulator


async def short_call() -> None:
    from engine import CallRequest, start_call
    from telephony.loopback import LoopbackPort, SimulatedCaller

    port = LoopbackPort()
    handle = await start_call(CallRequest(carrier="sip", from_number="+15550000000", to_number="bench"), port)
    assert handle.accepted, "the bench agent refused a call"
    caller = SimulatedCaller(handle, port.wire)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while port.seconds() < 0.5 and loop.time() < deadline:
        await caller.silence(0.1)
    handle.remote_hangup("soak caller hung up")
    await handle.wait()


async def soak(calls: int, parallel: int, every: int, trace: bool) -> list[float]:
    import tracemalloc

    print(
        f"{'calls':>6} {'RSS MB':>8} {'fds':>5} {'tasks':>6} {'threads':>8} {'trimmed MB':>11} {'Python blocks':>14}",
        flush=True,
    )
    rss: list[float] = []
    snapshot = None
    done = 0
    print(  # before the first call: the process as Django and the SDK left it
        f"{0:>6} {proc_rss_mb(os.getpid()):>8.1f} {open_fds():>5} {len(asyncio.all_tasks()):>6} "
        f"{threading.active_count():>8} {trimmed_rss_mb():>11.1f} {sys.getallocatedblocks():>14}",
        flush=True,
    )
    while done < calls:
        wave = min(parallel, calls - done)
        await asyncio.gather(*(short_call() for _ in range(wave)))
        done += wave
        if done % every == 0 or done == calls:
            gc.collect()
            await asyncio.sleep(0.5)  # let the storing threads finish the last wave
            rss.append(proc_rss_mb(os.getpid()))
            print(
                f"{done:>6} {rss[-1]:>8.1f} {open_fds():>5} {len(asyncio.all_tasks()):>6} "
                f"{threading.active_count():>8} {trimmed_rss_mb():>11.1f} {sys.getallocatedblocks():>14}",
                flush=True,
            )
            if trace and snapshot is None:
                tracemalloc.start(10)
                snapshot = tracemalloc.take_snapshot()
    if trace and snapshot is not None:
        gc.collect()
        print("largest allocation growth since the warm-up:")
        for stat in tracemalloc.take_snapshot().compare_to(snapshot, "traceback")[:8]:
            print(f"  {stat.size_diff / 1024:+9.1f} KB {stat.count_diff:+7d} blocks")
            for line in stat.traceback.format()[-6:]:
                print(f"      {line}")
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--trace", action="store_true", help="print tracemalloc's top growth after warm-up")
    args = parser.parse_args()
    setup_django()
    emulator = start_emulator()
    bench_agent()
    print(
        f"soak: {args.calls} short calls, {args.parallel} at a time, in-process u-law line, recording on, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        rss = asyncio.run(soak(args.calls, args.parallel, args.every, args.trace))
    finally:
        emulator.stop()
    if len(rss) >= 2:
        growth = rss[-1] - rss[0]
        per_call = growth / max(1, args.calls - args.every)
        verdict = "flat" if abs(growth) <= FLAT_MB else "NOT flat"
        print(
            f"RSS after warm-up ({args.every} calls) {rss[0]:.1f} MB, at the end {rss[-1]:.1f} MB: "
            f"{growth:+.1f} MB ({per_call * 1024:+.1f} KB per call), {verdict} (within {FLAT_MB:.0f} MB); "
            f"load average {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
