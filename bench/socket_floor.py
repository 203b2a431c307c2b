"""The floor under a media stream's CPU: a server that only reads Twilio's 50 frames a second.

    .venv/bin/python bench/socket_floor.py [--calls 30] [--seconds 15] [--runs 3]

Each run starts uvicorn (uvloop, httptools, no permessage-deflate, as `contactcenter.streams` runs)
with a bare ASGI application that accepts the WebSocket and drops every message, once per WebSocket
protocol uvicorn offers and once with the streams process's own (`contactcenter.ws_protocol`), and drives N sockets with Twilio-sized media messages every 20 ms on
real-time clocks from this process. It prints the server's CPU (user + system, all threads) per frame
and per connection, the median of the runs side by side. That is what any Python server pays before
it looks at a frame (the kernel, uvloop, the WebSocket parser, the ASGI queue): Pipecat pays it too,
and it bounds how light a call can get on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import proc_cpu_seconds  # noqa: E402
from tests.support.live import free_port  # noqa: E402

OURS = "contactcenter.ws_protocol"  # websockets-sansio with the media process's fast paths
PROTOCOLS = ("websockets", "websockets-sansio", OURS)
FRAME_S = 0.02
ROOT = str(Path(__file__).resolve().parents[1])
APP = """
async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass
"""
MEDIA = json.dumps(
    {
        "event": "media",
        "sequenceNumber": "1",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "20", "payload": "f" * 212},
        "streamSid": "MZ" + "0" * 32,
    }
)


async def drive(port: int, calls: int, seconds: float) -> None:
    import websockets

    async def one() -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            loop = asyncio.get_running_loop()
            deadline = loop.time()
            end = deadline + seconds
            while deadline < end:
                await ws.send(MEDIA)
                deadline += FRAME_S
                await asyncio.sleep(max(0.0, deadline - loop.time()))

    await asyncio.gather(*(one() for _ in range(calls)))


def measure(app_dir: str, protocol: str, calls: int, seconds: float) -> float:
    """Server CPU µs per frame received."""
    port = free_port()
    if protocol == OURS:  # a class, which uvicorn's command line cannot name: the same options in Python
        command = [
            sys.executable, "-c",
            f"import sys; sys.path[:0] = [{app_dir!r}, {ROOT!r}]; import uvicorn; "
            "from contactcenter.ws_protocol import MediaWebSocketProtocol as P; "
            f"uvicorn.run('floor_app:app', port={port}, ws=P, loop='uvloop', http='httptools', "
            "ws_per_message_deflate=False, access_log=False, log_level='error')",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "floor_app:app", "--port", str(port),
            "--ws", protocol, "--loop", "uvloop", "--http", "httptools", "--ws-per-message-deflate", "false",
            "--no-access-log", "--log-level", "error",
        ]  # fmt: skip
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        before = proc_cpu_seconds(server.pid)
        asyncio.run(drive(port, calls, seconds))
        used = proc_cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait()
    return used / (calls * seconds / FRAME_S) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {p: [] for p in PROTOCOLS}
    with tempfile.TemporaryDirectory() as app_dir:
        Path(app_dir, "floor_app.py").write_text(APP)
        for _ in range(args.runs):
            for protocol in PROTOCOLS:  # interleaved, so a slow spell of the machine hits both
                results[protocol].append(measure(app_dir, protocol, args.calls, args.seconds))
    print(
        f"uvicorn, bare app, {args.calls} sockets x 50 frames/s, {args.seconds:g} s, median of {args.runs} runs"
    )
    for protocol, values in results.items():
        per_frame = statistics.median(values)
        print(
            f"  {protocol:26s} {per_frame:6.1f} µs per frame   {per_frame * 50 / 1e4:.3f} % of a core per call"
            f"   runs: {', '.join(f'{v:.1f}' for v in values)}"
        )


if __name__ == "__main__":
    main()
