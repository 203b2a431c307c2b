"""RTP mode of the load benchmark: N simultaneous Asterisk calls through `runasterisk`, from outside.

    .venv/bin/python bench/load_rtp.py [--calls 1,10,20] [--seconds 20] [--transport rtp|rtp:alaw]

`runasterisk` runs as a child process on a throwaway SQLite installation, the Gemini emulator in its
own process (bench profile), the Asterisk emulator in this process: each call's phone says "hello can
you hear me" every few seconds into a mixing bridge whose externalMedia leg is real RTP over UDP.

Figures, per number of simultaneous calls:
- CPU %/call: runasterisk's CPU (from /proc) over the calls' duration, divided by calls x seconds;
- RSS MB/call: runasterisk's peak RSS during the calls minus its idle RSS, divided by calls;
- frame p50/p99 ms: added latency per 20 ms frame on the wire: how late each RTP packet from
  runasterisk arrived relative to its own timestamp, within a talk spurt, after the spurt's earliest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, EmulatorProcess, percentile, proc_cpu_seconds, proc_rss_mb, setup_django  # noqa: E402


def lateness(arrivals: list[tuple[float, int]], clock: int = 8000) -> list[float]:
    out: list[float] = []
    spurt: list[float] = []
    base_t = base_ts = last_t = None
    for t, ts in arrivals:
        if last_t is None or t - last_t > 0.06 or ts < base_ts:
            if spurt:
                low = min(spurt)
                out += [x - low for x in spurt]
            spurt, base_t, base_ts = [], t, ts
        spurt.append((t - base_t) * 1000 - (ts - base_ts) * 1000 / clock)
        last_t = t
    if spurt:
        low = min(spurt)
        out += [x - low for x in spurt]
    return out


def start_runasterisk(
    env: dict[str, str], ari_url: str, transport: str, log=subprocess.DEVNULL
) -> subprocess.Popen:
    """`manage.py runasterisk` for a benchmark: ARI app and user "bench" at `ari_url`, media on
    127.0.0.1 over `transport`; `env` on top of this process's environment; output to `log`."""
    from tests.support.live import free_port

    return subprocess.Popen(
        [sys.executable, "manage.py", "runasterisk"],
        cwd=ROOT,
        env={
            **os.environ,
            **env,
            "ARI_URL": ari_url,
            "ARI_USERNAME": "bench",
            "ARI_PASSWORD": "bench",
            "ARI_APP": "bench",
            "MEDIA_BIND_HOST": "127.0.0.1",
            "MEDIA_ADVERTISE_HOST": "127.0.0.1",
            "RTP_PORT_RANGE": "31000-35999",
            "AUDIOSOCKET_PORT": str(free_port()),
            "ASTERISK_SOUNDS_PORT": str(free_port()),
            "ASTERISK_MEDIA_TRANSPORT": transport,
            "LOG_LEVEL": "WARNING",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def run(n: int, seconds: float, asterisk, server, speech: bytes) -> dict:
    from emulators.asterisk.legs import RtpLeg

    rss0 = proc_rss_mb(server.pid)
    cpu0 = proc_cpu_seconds(server.pid)
    t0 = time.monotonic()
    chans = [asterisk.place_call("bench", "100", f"+1555{i:07d}", app="bench") for i in range(n)]
    peak = rss0
    next_say = 2.0
    while time.monotonic() - t0 < seconds:
        if time.monotonic() - t0 >= next_say:
            for chan in chans:
                asterisk.say(chan, speech)
            next_say += 5.0
        peak = max(peak, proc_rss_mb(server.pid))
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    cpu = proc_cpu_seconds(server.pid) - cpu0
    late: list[float] = []
    ok = 0
    for chan in chans:
        legs = [leg for leg in chan.phone.legs if isinstance(leg, RtpLeg)]
        if legs and not chan.phone.ended.is_set():
            ok += 1
            late += lateness(asterisk.call(lambda leg=legs[0]: list(leg.arrivals)))
        asterisk.hangup(chan)
    asterisk.wait_for(lambda: not asterisk.emulator.channels, 60, "all calls over")
    return {"ok": ok, "cpu_pct": cpu / (n * elapsed) * 100, "rss": (peak - rss0) / n, "late": late}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", default="1,10,20")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--transport", default="rtp", choices=["rtp", "rtp:alaw"])
    args = parser.parse_args()
    data_dir = setup_django()
    emulator = EmulatorProcess("bench")
    from agents.models import Agent, Extension
    from emulators.asterisk.testing import start_in_thread
    from emulators.gemini.speech import flite_pcm

    agent = Agent.objects.create(
        name="Bench",
        system_prompt="Bench agent.",
        greeting="Hello, this is the benchmark line.",
        max_concurrent_calls=1000,
        record_calls=True,
    )
    Extension.objects.create(context="bench", extension="100", agent=agent)
    asterisk = start_in_thread(users={"bench": "bench"})
    server = start_runasterisk({**emulator.env(), "DATA_DIR": data_dir}, asterisk.ari_url, args.transport)
    asterisk.wait_for(lambda: asterisk.emulator.app_registered("bench"), 30, "runasterisk")
    speech = flite_pcm("hello can you hear me", 16000)
    print(
        f"RTP load benchmark: {args.seconds:.0f} s calls, {args.transport}, runasterisk and Gemini emulator in their own processes"
    )
    print(
        f"{'calls':>5} {'ok':>4} {'runasterisk CPU %/call':>23} {'RSS MB/call':>12} {'frame p50 ms':>13} {'frame p99 ms':>13} {'frames':>8}"
    )
    try:
        for n in [int(x) for x in args.calls.split(",")]:
            r = run(n, args.seconds, asterisk, server, speech)
            print(
                f"{n:>5} {r['ok']:>4} {r['cpu_pct']:>23.3f} {r['rss']:>12.2f} "
                f"{percentile(r['late'], 50):>13.2f} {percentile(r['late'], 99):>13.2f} {len(r['late']):>8}",
                flush=True,
            )
            time.sleep(2)
    finally:
        server.terminate()
        server.wait(15)
        asterisk.stop()
        emulator.stop()


if __name__ == "__main__":
    main()
