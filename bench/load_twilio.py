"""Load run: N simultaneous Twilio calls through real daphne to the Gemini emulator, at real-time pace.

    .venv/bin/python bench/load_twilio.py [--start 1] [--max 256] [--seconds 20] [--retries 1]

Processes: this script (the Twilio emulator: webhooks, one Media Stream per call, 20 ms frames both
ways on absolute clocks), `daphne` (the bridge: consumers + engine, measured), and
`manage.py gemini_emulator --profile bench` (its own process, not measured).
For N = start, 2*start, 4*start... it prints, over the middle of the run:
- bridge CPU per call (% of one core, daphne's user+system time / N / wall time),
- bridge RSS per call (daphne RSS with N calls up minus idle RSS, / N),
- added latency per frame, p50/p99: how far each agent frame arrived behind its place on a 20 ms
  grid anchored at the earliest frame of its talk-spurt (pacing jitter the bridge adds),
- late frames: frames more than the carrier's 60 ms jitter buffer behind;
- apart: p99 of each turn's last frame ("tail", see `added_latency_ms`) and the carrier's playout
  gaps (its buffer ran dry mid-spurt; the delayed tails cause most of them).
It stops when p99 > 10 ms or a frame is late, and reports the largest N that held. If this process
itself falls behind (its clock ticks late), the run says so: the load generator is the limit then.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import EmulatorProcess, percentile, proc_cpu_seconds, proc_rss_mb, setup_django  # noqa: E402

NUMBER = "+15005550006"
TOKEN = "bench-twilio-token"
JITTER_MS = 60


def prepare_db() -> None:
    from agents.models import Agent, PhoneNumber

    agent = Agent.objects.create(
        name="Bench agent",
        system_prompt="You are a benchmark agent.",
        greeting="Hello, thanks for calling. How can I help?",
        silence_duration_ms=300,
        max_concurrent_calls=100000,
    )
    PhoneNumber.objects.create(carrier="twilio", number=NUMBER, agent=agent)


def added_latency_ms(
    arrivals: list[tuple[float, int]], marks: list[float], frame_s: float = 0.02
) -> tuple[list[float], list[float]]:
    """Per frame: lateness against a 20 ms grid anchored at the earliest frame of its talk-spurt.

    Returns (body frames, turn-tail frames). A turn's last frame (followed by the app's end-of-turn
    mark within 100 ms) is reported apart: the engine can only flush its resampler's tail when
    Gemini's turnComplete arrives, so that frame measures the model's timing as much as the bridge.
    """
    body: list[float] = []
    tails: list[float] = []
    spurt: list[float] = []

    def close_spurt() -> None:
        if spurt:
            offsets = [t - k * frame_s for k, t in enumerate(spurt)]
            base = min(offsets)
            added = [(o - base) * 1000 for o in offsets]
            cut = len(spurt)
            if any(0 <= m - spurt[-1] <= 0.1 for m in marks):  # the turn ends here
                for j in range(len(spurt) - 1, max(0, len(spurt) - 6), -1):
                    if spurt[j] - spurt[j - 1] > 0.03:  # the tail came after a pause
                        cut = j
                        break
            body.extend(added[:cut])
            tails.extend(added[cut:])
            spurt.clear()

    last = None
    for t, _size in arrivals:
        if last is not None and t - last > 0.2:  # a pause between turns starts a new spurt
            close_spurt()
        spurt.append(t)
        last = t
    close_spurt()
    return body, tails


async def caller(call, pcm: bytes, seconds: float) -> None:
    """Speak every few seconds for `seconds`, at real time (the call's own clock does the pacing)."""
    await call.answered()
    end = time.monotonic() + seconds
    await asyncio.sleep(3.0)  # let the greeting play
    while time.monotonic() < end and not call.ended.is_set():
        call.play_pcm(pcm)
        await asyncio.sleep(len(pcm) / 16000 + 4.0)


async def run_level(emulator, daphne_pid: int, n: int, seconds: float, pcm: bytes) -> dict:
    idle_rss = proc_rss_mb(daphne_pid)
    calls = [emulator.place_call(NUMBER) for _ in range(n)]
    tasks = [asyncio.create_task(caller(c, pcm, seconds)) for c in calls]
    await asyncio.sleep(min(5.0, seconds / 4))  # calls set up, greetings started
    cpu0, t0 = proc_cpu_seconds(daphne_pid), time.monotonic()
    rss_peak = 0.0
    while not all(t.done() for t in tasks):
        rss_peak = max(rss_peak, proc_rss_mb(daphne_pid))
        await asyncio.sleep(0.5)
    cpu, wall = proc_cpu_seconds(daphne_pid) - cpu0, time.monotonic() - t0
    await asyncio.gather(*(c.hangup("bench over") for c in calls))
    added: list[float] = []
    tails: list[float] = []
    for c in calls:
        body, tail = added_latency_ms(c.playout.stats.arrivals, c.playout.stats.mark_arrivals)
        added += body
        tails += tail
    late = sum(ms > JITTER_MS for ms in added)
    streams = sum(c.stream_started.is_set() for c in calls)
    return {
        "n": n,
        "streams": streams,
        "cpu_pct_per_call": 100 * cpu / wall / n,
        "rss_mb_per_call": max(0.0, rss_peak - idle_rss) / n,
        "p50": percentile(added, 50),
        "p99": percentile(added, 99),
        "frames": len(added),
        "late": late,
        "tail_p99": percentile(tails, 99),
        "underruns": sum(c.playout.stats.underruns for c in calls),
        "generator_late_ticks": sum(c.clock.late_ticks for c in calls if c.clock),
        "errors": sum(len(c.errors) for c in calls),
    }


async def main_async(args) -> None:
    from django.conf import settings

    from emulators.twilio.emulator import TwilioEmulator
    from emulators.twilio.phone import flite_pcm
    from tests.support.live import start_daphne

    gemini = EmulatorProcess(profile="bench", max_sessions=10000)
    emulator = TwilioEmulator("http://127.0.0.1:1", auth_token=TOKEN, jitter_ms=JITTER_MS)
    await emulator.start_rest()
    db_url = f"sqlite:///{settings.DATABASES['default']['NAME']}"
    env = {
        **gemini.env(),
        "TWILIO_ACCOUNT_SID": emulator.account_sid,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": emulator.rest_url,
        "LOG_LEVEL": "WARNING",
    }
    server = start_daphne(db_url, Path(settings.DATA_DIR) / "logs", env)
    emulator.app_url = emulator.public_url = server.url
    emulator.voice_url = server.url + "/twilio/voice/"
    emulator.status_url = server.url + "/twilio/status/"
    pcm = await asyncio.to_thread(flite_pcm, "hello can you hear me")
    print(
        f"daphne pid {server.process.pid} at {server.url}; Gemini emulator (bench profile) pid {gemini.proc.pid}"
    )
    print(
        f"{'N':>5} {'streams':>7} {'CPU%/call':>9} {'RSS MB/call':>11} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'frames':>8} {'late':>5} {'tail p99':>8} {'gaps':>5} {'gen late':>8}"
    )
    await run_level(emulator, server.process.pid, 1, 6.0, pcm)  # warm-up: imports, caches (not shown)
    best = 0
    n = args.start
    try:
        while n <= args.max:
            r = await run_level(emulator, server.process.pid, n, args.seconds, pcm)
            for _ in range(args.retries):
                if r["streams"] == n and r["p99"] <= 10.0 and r["late"] == 0:
                    break
                print(
                    f"{n:>5} missed (p99 {r['p99']:.2f} ms, late {r['late']}): running it again", flush=True
                )
                await asyncio.sleep(2.0)
                r = await run_level(emulator, server.process.pid, n, args.seconds, pcm)
            print(
                f"{r['n']:>5} {r['streams']:>7} {r['cpu_pct_per_call']:>9.2f} {r['rss_mb_per_call']:>11.2f} "
                f"{r['p50']:>7.2f} {r['p99']:>7.2f} {r['frames']:>8} {r['late']:>5} {r['tail_p99']:>8.1f} "
                f"{r['underruns']:>5} {r['generator_late_ticks']:>8}",
                flush=True,
            )
            held = r["streams"] == n and r["p99"] <= 10.0 and r["late"] == 0
            if not held:
                if r["generator_late_ticks"]:
                    print(
                        f"note: the load generator itself fell behind at N={n}; the limit may be this process"
                    )
                break
            best = n
            n *= 2
            await asyncio.sleep(2.0)
        print(f"largest N that held (p99 <= 10 ms, no late frame): {best}")
    finally:
        await emulator.close()
        server.stop()
        gemini.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--start", type=int, default=1)
    parser.add_argument("--max", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each level's calls")
    parser.add_argument(
        "--retries", type=int, default=1, help="re-runs of a level that missed (shared machines)"
    )
    args = parser.parse_args()
    setup_django()
    prepare_db()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
