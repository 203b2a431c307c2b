"""CPU per step of the media path, the old way against ours, side by side in one process.

    .venv/bin/python bench/frame_path.py [--frames 10000] [--runs 3]

1. An inbound WebSocket frame to the consumer's `receive()`: Channels' `AsyncConsumer.dispatch`
   awaits `aclose_old_connections()` (a `sync_to_async` hop) before each handler, and its `__call__`
   wraps each `receive` in a new task passed to `asyncio.wait`; `MediaSocketConsumer`
   (telephony/sockets.py, base of the Twilio, Plivo and browser consumers) does neither: one loop
   awaits the socket. Both consumers do nothing with the frame.
2. One 40 ms batch of caller audio (1,280 bytes at 16 kHz) to the Gemini socket: the SDK's
   `send_realtime_input` (pydantic model, converters, json.dumps) against `engine.wire`'s text
   (same bytes on the wire, checked), both into a socket that only counts.
Process CPU time (all threads), median of the runs.
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


async def cpu_per_batch(fast: bool, batches: int) -> float:
    import os

    from google import genai
    from google.genai import types
    from google.genai.live import AsyncSession

    from engine.wire import MIME, AudioMessages

    class Socket:
        async def send(self, text: str) -> None:
            pass

    client = genai.Client(api_key="bench-key")._api_client
    session = AsyncSession(api_client=client, websocket=Socket())  # type: ignore[arg-type]
    messages = await AudioMessages.for_session(session)
    pcm = os.urandom(1280)
    start = time.process_time()
    for _ in range(batches):
        if fast:
            await messages.send(pcm)
        else:
            await session.send_realtime_input(audio=types.Blob(data=pcm, mime_type=MIME))
    return (time.process_time() - start) / batches * 1e6


def report(title: str, results: dict[str, list[float]], per_second: int) -> None:
    print(title)
    for name, values in results.items():
        print(
            f"  {name:28s} {statistics.median(values):7.1f}   runs: {', '.join(f'{v:.1f}' for v in values)}"
        )
    base, ours = (statistics.median(v) for v in results.values())
    saved = (base - ours) * per_second / 1e4
    print(f"  saved: {base - ours:.1f} µs each; at {per_second}/s that is {saved:.3f} % of a core per call")


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
    report(
        f"inbound frame to receive(): CPU µs per frame, {args.frames} frames x {args.runs} runs", results, 50
    )
    batches = {"SDK send_realtime_input": [], "engine.wire AudioMessages": []}
    for _ in range(args.runs):
        batches["SDK send_realtime_input"].append(asyncio.run(cpu_per_batch(False, args.frames)))
        batches["engine.wire AudioMessages"].append(asyncio.run(cpu_per_batch(True, args.frames)))
    report(
        f"40 ms audio batch to the Gemini socket: CPU µs per batch, {args.frames} x {args.runs}", batches, 25
    )


if __name__ == "__main__":
    sys.exit(main())
