"""Benchmark: the Gemini emulator's own CPU per session in the `bench` profile.

Starts `manage.py gemini_emulator --profile bench` in its own process, runs N concurrent sessions through
the real google-genai SDK, each streaming real-time caller audio (flite speech, then silence, repeated),
and reads the emulator process's CPU time from /proc/<pid>/stat. Load runs of the product subtract this.

    .venv/bin/python bench/gemini_emulator.py --sessions 20 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")

from tests.support.live import free_port  # noqa: E402

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
CHUNK_MS = 40


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_session(client, pcm: bytes, seconds: float, stats: dict[str, int]) -> None:
    async with client.aio.live.connect(model=MODEL, config={"response_modalities": ["AUDIO"]}) as session:

        async def receive() -> None:
            while True:
                async for msg in session.receive():
                    if msg.data:
                        stats["audio_bytes"] += len(msg.data)
                    if msg.server_content and msg.server_content.turn_complete:
                        stats["turns"] += 1

        receiver = asyncio.create_task(receive())
        step = 16000 * 2 * CHUNK_MS // 1000
        loop = asyncio.get_running_loop()
        start = loop.time()
        i = 0
        while loop.time() - start < seconds:
            chunk = pcm[(i * step) % len(pcm) :][:step]
            if len(chunk) < step:
                chunk += b"\0" * (step - len(chunk))
            await session.send_realtime_input(audio={"data": chunk, "mime_type": "audio/pcm;rate=16000"})
            i += 1
            await asyncio.sleep(max(0.0, start + i * CHUNK_MS / 1000 - loop.time()))
        receiver.cancel()


def start_emulator(sessions: int) -> tuple[subprocess.Popen[str], int, Path]:
    """The emulator in its own process, exactly as an operator would start it."""
    port = free_port()
    ca_file = Path(tempfile.mkdtemp(prefix="gemini-bench-")) / "ca.pem"
    command = [sys.executable, str(ROOT / "manage.py"), "gemini_emulator", "--port", str(port)]
    command += ["--api-key", "bench-key", "--ca-file", str(ca_file), "--profile", "bench"]
    command += ["--max-sessions", str(sessions + 10)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, port, ca_file


async def run(args: argparse.Namespace, pid: int, port: int, ca_file: Path) -> None:
    import ssl

    from google import genai
    from google.genai import types

    from emulators.gemini.speech import flite_pcm

    ctx = ssl.create_default_context(cafile=str(ca_file))
    client = genai.Client(
        api_key="bench-key",
        http_options=types.HttpOptions(
            base_url=f"https://127.0.0.1:{port}", api_version="v1beta", async_client_args={"ssl": ctx}
        ),
    )
    speech = flite_pcm("hello i would like to check the status of my order") + b"\0" * (16000 * 2 * 3)
    stats = {"audio_bytes": 0, "turns": 0}
    before = cpu_seconds(pid)
    wall = time.monotonic()
    await asyncio.gather(*(one_session(client, speech, args.seconds, stats) for _ in range(args.sessions)))
    wall = time.monotonic() - wall
    used = cpu_seconds(pid) - before
    per_session = used / args.sessions
    share = 100 * per_session / wall
    print(
        f"sessions={args.sessions} seconds={args.seconds:.0f} wall={wall:.1f}s turns={stats['turns']} "
        f"audio_out={stats['audio_bytes'] / 48000:.0f}s"
    )
    print(
        f"emulator CPU: {used:.2f} s total, {per_session:.3f} s per session "
        f"= {share:.2f}% of one core per session"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    proc, port, ca_file = start_emulator(args.sessions)
    try:
        asyncio.run(run(args, proc.pid, port, ca_file))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
