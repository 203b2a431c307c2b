"""CPU per inbound WebSocket frame: Channels' dispatch (a thread hop per frame) against ours.

    .venv/bin/python bench/dispatch.py [--frames 20000] [--runs 3]

Both consumers do nothing with the frame, so the figures are the cost of getting a frame from
the ASGI `receive` to `receive()`: Channels' `AsyncConsumer.dispatch` awaits
`aclose_old_connections()` (a `sync_to_async` hop) before each handler, `MediaSocketConsumer`
(telephony/sockets.py, the base of the Twilio, Plivo and browser media consumers) does not.
Process CPU time (all threads), median of the runs, side by side in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

from common import setup_django


async def cpu_per_frame(consumer_class, frames: int) -> float:
    from channels.testing import WebsocketCommunicator

    received = 0
    done = asyncio.Event()

    class Counting(consumer_class):
        async def receive(self, text_data=None, bytes_data=None):
            nonlocal received
            received += 1
            if received == frames:
                done.set()

    communicator = WebsocketCommunicator(Counting.as_asgi(), "/media")
    connected, _ = await communicator.connect()
    assert connected
    frame = json.dumps({"event": "media", "media": {"payload": "f" * 212}})
    start = time.process_time()
    for _ in range(frames):
        await communicator.send_input({"type": "websocket.receive", "text": frame})
    await asyncio.wait_for(done.wait(), 120)
    used = time.process_time() - start
    await communicator.disconnect()
    return used / frames * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    from channels.generic.websocket import AsyncWebsocketConsumer

    from telephony.sockets import MediaSocketConsumer

    results: dict[str, list[float]] = {"channels dispatch": [], "MediaSocketConsumer": []}
    for _ in range(args.runs):
        results["channels dispatch"].append(asyncio.run(cpu_per_frame(AsyncWebsocketConsumer, args.frames)))
        results["MediaSocketConsumer"].append(asyncio.run(cpu_per_frame(MediaSocketConsumer, args.frames)))
    print(f"{args.frames} frames per run, {args.runs} runs, CPU µs per frame (median)")
    for name, values in results.items():
        print(f"  {name:22s} {statistics.median(values):7.1f}   runs: {', '.join(f'{v:.1f}' for v in values)}")
    base, ours = (statistics.median(v) for v in results.values())
    print(f"  saved per frame: {base - ours:.1f} µs; at 50 frames/s that is {(base - ours) * 50 / 1e4:.3f} % of a core per call")


if __name__ == "__main__":
    sys.exit(main())
