"""SIP mode of the load benchmark: N simultaneous sipp calls into `runsip`, measured from outside.

    .venv/bin/python bench/load_sip.py [--calls 1,10,20] [--seconds 20] [--codec ulaw|alaw]

`runsip` runs as a child process on a throwaway SQLite installation, the Gemini emulator in its own
process (bench profile), sipp places the calls (each plays a pcap: flite saying "hello can you hear
me" every few seconds) and `dumpcap` records the RTP runsip sends back (needs root or the
wireshark group; without it the latency columns are empty).

Figures, per number of simultaneous calls:
- CPU %/call: runsip's CPU (from /proc) over the calls' duration, divided by calls x seconds;
- RSS MB/call: runsip's peak RSS during the calls minus its idle RSS, divided by calls;
- frame p50/p99 ms: added latency per 20 ms frame on the wire: how late each RTP packet arrived
  relative to its own timestamp, within a talk spurt, after the earliest packet of that spurt.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, EmulatorProcess, percentile, proc_cpu_seconds, proc_rss_mb, setup_django  # noqa: E402

SCENARIO = ROOT / "tests" / "sip" / "scenarios" / "uac_g711.xml"
CODECS = {"ulaw": ("0", "PCMU"), "alaw": ("8", "PCMA")}


def start_runsip(env: dict[str, str], port: int, rtp: tuple[int, int]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runsip"],
        cwd=ROOT,
        env={
            **os.environ,
            **env,
            "SIP_BIND_HOST": "127.0.0.1",
            "SIP_ADVERTISE_HOST": "127.0.0.1",
            "SIP_PORT": str(port),
            "SIP_RTP_PORT_RANGE": f"{rtp[0]}-{rtp[1]}",
            "LOG_LEVEL": "WARNING",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        if "runsip: listening" in line:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc
    raise RuntimeError("runsip did not start")


def frame_lateness(datagrams, sip_rtp: tuple[int, int]) -> list[float]:
    """Per-packet lateness (ms) against the packet's RTP timestamp, per talk spurt."""
    import struct

    by_stream: dict[tuple, list[tuple[float, int]]] = {}
    for d in datagrams:
        if not sip_rtp[0] <= d.src[1] <= sip_rtp[1] or len(d.payload) < 12:
            continue
        ts = struct.unpack("!I", d.payload[4:8])[0]
        by_stream.setdefault((d.src, d.dst), []).append((d.time, ts))
    lateness: list[float] = []
    for packets in by_stream.values():
        spurt: list[float] = []
        base_time = base_ts = None
        last_time = None
        for arrival, ts in packets:
            if last_time is None or arrival - last_time > 0.06 or ts < base_ts:
                if spurt:
                    low = min(spurt)
                    lateness += [x - low for x in spurt]
                spurt, base_time, base_ts = [], arrival, ts
            spurt.append((arrival - base_time) * 1000 - (ts - base_ts) / 8)
            last_time = arrival
        if spurt:
            low = min(spurt)
            lateness += [x - low for x in spurt]
    return lateness


def run(n: int, seconds: float, codec: str, server, port: int, rtp, workdir: Path) -> dict:
    from tests.sip.media import LoopbackCapture

    keys = CODECS[codec]
    talk_ms = int(seconds * 1000)
    args = [
        shutil.which("sipp") or "/usr/bin/sipp",
        f"127.0.0.1:{port}",
        "-sf",
        str(SCENARIO),
        "-i",
        "127.0.0.1",
        "-s",
        "bench",
        "-m",
        str(n),
        "-l",
        str(n),
        "-r",
        str(n),
        "-nostdin",
        "-key",
        "codec_pt",
        keys[0],
        "-key",
        "codec_name",
        keys[1],
        "-set",
        "talk_ms",
        str(talk_ms),
        "-timeout",
        f"{int(seconds + 60)}s",
    ]
    rss0 = proc_rss_mb(server.pid)
    can_capture = os.geteuid() == 0
    capture = LoopbackCapture(f"udp and src portrange {rtp[0]}-{rtp[1]}", workdir) if can_capture else None
    if capture:
        capture.__enter__()
    cpu0 = proc_cpu_seconds(server.pid)
    t0 = time.monotonic()
    sipp = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = rss0
    while sipp.poll() is None:
        peak = max(peak, proc_rss_mb(server.pid))
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    cpu = proc_cpu_seconds(server.pid) - cpu0
    lateness: list[float] = []
    if capture:
        capture.stop()
        lateness = frame_lateness(capture.datagrams(), rtp)
    return {
        "ok": sipp.returncode == 0,
        "cpu_pct": cpu / (n * elapsed) * 100,
        "rss": (peak - rss0) / n,
        "lateness": lateness,
        "elapsed": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", default="1,10,20")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--codec", default="ulaw", choices=sorted(CODECS))
    args = parser.parse_args()
    data_dir = setup_django()
    emulator = EmulatorProcess("bench")
    from agents.models import Agent, PhoneNumber, Tool
    from tests.sip.media import CallerScript
    from tests.support.live import free_port

    agent = Agent.objects.create(
        name="Bench",
        system_prompt="Bench agent.",
        greeting="Hello, this is the benchmark line.",
        max_concurrent_calls=1000,
        record_calls=True,
    )
    agent.tools.add(Tool.objects.create(name="end_call", kind="end_call", description="End the call."))
    PhoneNumber.objects.create(carrier="sip", number="bench", agent=agent)
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-sip-"))
    (workdir / "pcap").mkdir()
    script = CallerScript(args.codec).silence(2.0)
    while script.duration_ms < args.seconds * 1000 - 3000:
        script.say("hello can you hear me").silence(3.0)
    script.write(workdir / "pcap" / "call.pcap")
    port = free_port()
    rtp = (30000, 30000 + 4 * 1000)
    server = start_runsip({**emulator.env(), "DATA_DIR": data_dir}, port, rtp)
    print(
        f"SIP load benchmark: {args.seconds:.0f} s sipp calls, {args.codec}, runsip and the emulator in their own processes"
    )
    print(
        f"{'calls':>5} {'ok':>3} {'runsip CPU %/call':>18} {'RSS MB/call':>12} {'frame p50 ms':>13} {'frame p99 ms':>13} {'frames':>8}"
    )
    try:
        for n in [int(x) for x in args.calls.split(",")]:
            r = run(n, args.seconds, args.codec, server, port, rtp, workdir)
            print(
                f"{n:>5} {'yes' if r['ok'] else 'NO':>3} {r['cpu_pct']:>18.3f} {r['rss']:>12.2f} "
                f"{percentile(r['lateness'], 50):>13.2f} {percentile(r['lateness'], 99):>13.2f} {len(r['lateness']):>8}",
                flush=True,
            )
            time.sleep(2)
    finally:
        server.terminate()
        server.wait(15)
        emulator.stop()


if __name__ == "__main__":
    main()
