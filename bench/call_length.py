"""RSS per call as calls grow long, recording on: does memory per call grow with call length?

    .venv/bin/python bench/call_length.py [--calls 5] [--minutes 1,20]

Real time, no acceleration: `--calls` engine calls at once on the in-process u-law line (as
`bench/engine.py` and `bench/soak.py`), the emulator in its own process (bench profile), each caller
speaking a phrase then 3 s of quiet in a loop and the agent answering, the recording on. RSS is sampled
after one warm-up call (the baseline) and at each of `--minutes`; RSS per call is (RSS - baseline) /
calls; "trimmed" is the same after glibc's `malloc_trim` (memory live objects hold, without the pages
the allocator keeps for reuse), and Python blocks counts live Python allocations. Before recordings were written in chunks they grew by about 40 KB per second of call (32 KB of
stereo samples plus the bytearray's slack), so 20 minutes would hold about 48 MB per call.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import proc_rss_mb, setup_django, trimmed_rss_mb  # noqa: E402
from bench.soak import bench_agent, short_call, start_emulator  # noqa: E402


async def talking_call(stop: asyncio.Event) -> None:
    from engine import CallRequest, start_call
    from telephony.loopback import LoopbackPort, SimulatedCaller

    port = LoopbackPort()
    handle = await start_call(CallRequest(carrier="sip", from_number="+15550000000", to_number="bench"), port)
    assert handle.accepted, "the bench agent refused a call"
    caller = SimulatedCaller(handle, port.wire)
    await caller.silence(2.0)
    while not stop.is_set():
        await caller.say("hello can you hear me", then_silence=3.0)
        # What the test line heard is the bench's own memory, not the engine's.
        port.audio.clear()
        port.frame_times.clear()
        port.events.clear()
    handle.remote_hangup("bench over")
    await handle.wait()


async def measure(calls: int, minutes: list[float]) -> None:
    from telephony.loopback import flite_pcm

    flite_pcm("hello can you hear me", 8000)
    await short_call()  # warm-up: imports, TLS, the first session
    gc.collect()
    base = proc_rss_mb(os.getpid())
    base_trimmed = trimmed_rss_mb()
    print(f"baseline RSS after one warm-up call: {base:.1f} MB ({base_trimmed:.1f} MB trimmed)", flush=True)
    print(
        f"{'minutes':>8} {'RSS MB':>8} {'RSS per call MB':>16} {'trimmed per call MB':>20} {'Python blocks':>14}",
        flush=True,
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(talking_call(stop)) for _ in range(calls)]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for mark in sorted(minutes):
        await asyncio.sleep(max(0.0, t0 + mark * 60 - loop.time()))
        gc.collect()
        rss = proc_rss_mb(os.getpid())
        trimmed = trimmed_rss_mb()
        print(
            f"{mark:>8g} {rss:>8.1f} {(rss - base) / calls:>16.2f} {(trimmed - base_trimmed) / calls:>20.2f} "
            f"{sys.getallocatedblocks():>14}",
            flush=True,
        )
    stop.set()
    await asyncio.gather(*tasks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--minutes", default="1,20")
    args = parser.parse_args()
    from contactcenter.malloc import cap_arenas

    cap_arenas()  # as every process that carries calls does, before its threads (contactcenter/malloc.py)
    setup_django()
    emulator = start_emulator()
    bench_agent()
    print(
        f"call length: {args.calls} calls at once, in-process u-law line, real time, recording on, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        asyncio.run(measure(args.calls, [float(m) for m in args.minutes.split(",")]))
    finally:
        emulator.stop()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
