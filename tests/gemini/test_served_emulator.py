"""`manage.py gemini_emulator`, as the benchmarks and demos serve it, keeps no record of what its clients
send: its memory stays flat however many audio messages a call streams to it. (Kept, every message
stayed in memory for the life of the process, and the garbage collector's full passes over them stopped
its loop for tens of milliseconds: a benchmark's clients saw that as the model answering late.)"""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from bench.common import EmulatorProcess, proc_cpu_seconds, proc_rss_mb

pytestmark = pytest.mark.asyncio


async def settled(pid: int) -> None:
    """Until the emulator has worked through what it was sent (its CPU time stops rising)."""
    last = -1.0
    while (now := proc_cpu_seconds(pid)) != last:
        last = now
        await asyncio.sleep(0.2)


@pytest.fixture
def served():
    """`manage.py gemini_emulator` in its own process, as the benchmarks start it."""
    emulator = EmulatorProcess(profile="fast")
    try:
        yield emulator
    finally:
        emulator.stop()


async def test_a_served_emulator_keeps_no_record_of_the_audio_it_is_sent(served):
    """Thrown at it: one Live session through the google-genai SDK streaming 30,000 messages of 20 ms of
    16 kHz silence (10 minutes of a quiet line, 860 characters of base64 each) to the emulator's own process.
    Holds: the process grows by less than 8 MB over them (kept, they took about 50 MB), and the
    session still answers afterwards."""
    from google import genai
    from google.genai import types

    pid = served.proc.pid
    client = genai.Client(
        api_key=served.api_key,
        http_options=types.HttpOptions(
            base_url=served.base_url,
            async_client_args={"ssl": ssl.create_default_context(cafile=served.ca_file)},
        ),
    )
    config = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO])
    blob = types.Blob(data=bytes(640), mime_type="audio/pcm;rate=16000")
    async with client.aio.live.connect(model="gemini-3.8-live", config=config) as session:
        for i in range(2000):  # warm: imports, caches, the allocator's first arenas
            await session.send_realtime_input(audio=blob)
            if i % 50 == 0:
                await asyncio.sleep(0.01)
        await settled(pid)
        before = proc_rss_mb(pid)
        started = time.monotonic()
        for i in range(30000):
            await session.send_realtime_input(audio=blob)
            if i % 50 == 0:  # paced so that it keeps up: no backlog of unread frames piles up
                await asyncio.sleep(0.01)
        await settled(pid)
        grown = proc_rss_mb(pid) - before
        took = time.monotonic() - started
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="hello")]), turn_complete=True
        )
        answered = False
        async for message in session.receive():
            answered = answered or bool(message.data)
            if message.server_content and message.server_content.turn_complete:
                break
    assert grown < 8, f"{grown:.1f} MB more after 30,000 messages ({took:.0f} s)"
    assert answered
