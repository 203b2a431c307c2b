"""Marks on a carrier socket that has gone away.

The end of a turn is marked on the carrier (Twilio `mark`, Plivo `checkpoint`) and the end of a call
waits until the last mark is confirmed played. When the caller hangs up while the agent speaks, the
mark can no longer be sent; before, its send failed in a task nobody awaited ("Task exception was
never retrieved") and the call's end waited out the drain's 10 s for a confirmation that could not
come, past the consumer's 8 s grace.
"""

from __future__ import annotations

import asyncio

import pytest

from engine.playout import Playout
from engine.port import WireFormat

pytestmark = pytest.mark.asyncio


class GoneLine:
    """A carrier socket the caller just closed: audio and marks fail as uvicorn's do."""

    supports_marks = True

    def __init__(self) -> None:
        self.wire = WireFormat("ulaw", 8000, frame_ms=20)
        self.marks_tried: list[str] = []

    async def send_audio(self, payload: bytes) -> None:
        raise ConnectionError("client disconnected")

    async def mark(self, name: str) -> None:
        self.marks_tried.append(name)
        raise ConnectionError("client disconnected")

    async def clear(self) -> None:
        pass


async def test_a_mark_the_socket_cannot_take_does_not_hold_up_the_calls_end():
    """Thrown at it: a turn ends (its mark is sent) after the caller's socket closed. Holds: the mark
    was tried, no exception is left unretrieved, and `drain` reports the playout done at once instead
    of waiting its 10 s timeout."""
    loop = asyncio.get_running_loop()
    unretrieved: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    line = GoneLine()
    playout = Playout(line)
    playout.start()
    try:
        playout.end_of_turn("turn-1")
        started = loop.time()
        assert await playout.drain(timeout=10.0)
        assert loop.time() - started < 1.0
    finally:
        await playout.stop()
        loop.set_exception_handler(None)
    assert line.marks_tried == ["turn-1"]
    assert not unretrieved, unretrieved
