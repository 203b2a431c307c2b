"""The media process's WebSocket protocol (contactcenter/ws_protocol.py) over real sockets.

Every test runs against uvicorn's own `websockets-sansio` protocol too: the fast paths must change
nothing a client sees. The client is a raw TCP socket, so frames can be joined, split at any byte,
fragmented, unmasked or oversized exactly as a test needs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct

import pytest
import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from contactcenter.ws_protocol import INLINE_TEXT, PAUSE_AT, MediaWebSocketProtocol
from tests.support.live import free_port

MAX_SIZE = 200_000
TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0

pytestmark = pytest.mark.parametrize("protocol", [MediaWebSocketProtocol, WebSocketsSansIOProtocol])


class Echo:
    """An ASGI app: refuses /refuse before accepting, echoes every message, closes on "close-me",
    reads nothing while "hold" is set (so a client can fill its queue), and on /impatient reads with
    a timeout that keeps cancelling its `receive()`."""

    def __init__(self) -> None:
        self.disconnects: list[int] = []
        self.handled: list[str] = []  # on /inline: every text in the order the app handled it
        self.inline = 0  # ... of which taken in the server's read callback
        self.reading = asyncio.Event()
        self.reading.set()

    async def __call__(self, scope, receive, send) -> None:
        assert scope["type"] == "websocket"
        await receive()
        if scope["path"] == "/slow":
            await asyncio.sleep(0.2)  # accepts late: a client may already have sent frames
        if scope["path"] == "/refuse":
            await send({"type": "websocket.close"})
            return
        await send({"type": "websocket.accept"})
        if scope["path"] == "/inline" and INLINE_TEXT in scope["extensions"]:
            scope["extensions"][INLINE_TEXT](self.take_inline)
        while True:
            await self.reading.wait()
            if scope["path"] == "/impatient":
                try:
                    message = await asyncio.wait_for(receive(), 0.001)
                except TimeoutError:
                    continue
            else:
                message = await receive()
            if message["type"] == "websocket.disconnect":
                self.disconnects.append(message["code"])
                return
            if scope["path"] == "/inline" and message.get("text") is not None:
                self.handled.append(message["text"])
            if message.get("text") == "close-me":
                await send({"type": "websocket.close", "code": 4400})
            elif message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})

    def take_inline(self, text: str) -> bool:
        """Texts starting "now" are handled here; the rest go to `receive`."""
        if not text.startswith("now"):
            return False
        if text == "now boom":
            raise RuntimeError("a handler that breaks")
        self.handled.append(text)
        self.inline += 1
        return True


@pytest.fixture
async def served(protocol):
    app = Echo()
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws=protocol, lifespan="off", log_config=None,
        ws_max_size=MAX_SIZE, ws_per_message_deflate=False, ws_ping_interval=None,
    )  # fmt: skip
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # the test runner keeps its own signal handlers
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event for it
        await asyncio.sleep(0.01)
    yield app, port
    server.should_exit = True
    await asyncio.wait_for(task, 10)


def frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True, rsv: int = 0) -> bytes:
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def connect(
    port: int, path: str = "/", early: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    if early:  # bytes sent before the server's 101, as a hasty client might
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(early)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer, head


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), 5)
    assert not b1 & 0x80, "a server's frames are not masked"
    assert b0 & 0x80, "the server sends whole messages"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return b0 & 0x0F, await asyncio.wait_for(reader.readexactly(n), 5)


async def close_code(reader: asyncio.StreamReader) -> int:
    opcode, payload = await read_frame(reader)
    assert opcode == CLOSE
    return struct.unpack("!H", payload[:2])[0]


async def test_many_frames_in_one_write_come_back_in_order(served, protocol):
    app, port = served
    reader, writer, head = await connect(port)
    assert head.startswith(b"HTTP/1.1 101")
    texts = [f'{{"event":"media","n":{i}}}' for i in range(40)]
    writer.write(b"".join(frame(TEXT, t.encode()) for t in texts))
    assert [(await read_frame(reader))[1].decode() for _ in texts] == texts
    writer.write(frame(CLOSE, struct.pack("!H", 1000)))
    assert await close_code(reader) == 1000
    writer.close()
    await asyncio.sleep(0.1)
    assert app.disconnects == [1000]


async def test_a_frame_split_at_every_byte_and_long_lengths(served, protocol):
    _, port = served
    reader, writer, _ = await connect(port)
    one = frame(TEXT, "é twenty bytes text".encode())
    for i in range(len(one)):  # one byte per write: every header and mask boundary falls mid-read
        writer.write(one[i : i + 1])
        await writer.drain()
        await asyncio.sleep(0.002)
    assert await read_frame(reader) == (TEXT, "é twenty bytes text".encode())
    for size in (125, 126, 300, 65_535, 65_536, 150_000):  # 7-bit, 16-bit and 64-bit lengths both ways
        payload = os.urandom(size)
        data = frame(BINARY, payload)
        writer.write(data[:3])  # the extended length itself arrives in two reads
        await writer.drain()
        await asyncio.sleep(0.005)
        writer.write(data[3:])
        assert await read_frame(reader) == (BINARY, payload), size
    writer.close()


async def test_fragments_with_a_ping_between_are_one_message_and_a_pong(served, protocol):
    _, port = served
    reader, writer, _ = await connect(port)
    writer.write(frame(TEXT, b"hel", fin=False) + frame(PING, b"are you there") + frame(CONT, b"lo"))
    writer.write(frame(TEXT, b"after"))
    assert await read_frame(reader) == (PONG, b"are you there")
    assert await read_frame(reader) == (TEXT, b"hello")
    assert await read_frame(reader) == (TEXT, b"after")
    writer.close()


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        # Larger than ws_max_size: refused on its header, before the rest is sent (a server that waited
        # for it whole would hang here; one that closed with it unread would reset the socket).
        (frame(BINARY, b"x" * (MAX_SIZE + 1))[:1000], 1009),
        (frame(TEXT, b"\xff\xfe not utf-8"), 1007),
        (frame(TEXT, b"no mask", masked=False), 1002),
        (frame(TEXT, b"reserved bit", rsv=0x40), 1002),
        (frame(0x3, b"reserved opcode"), 1002),
        (frame(CONT, b"continuation of nothing"), 1002),
    ],
    ids=["too-big", "bad-utf8", "unmasked", "rsv", "opcode", "stray-cont"],
)
async def test_a_bad_frame_is_answered_as_uvicorn_answers_it(served, protocol, bad, code):
    app, port = served
    reader, writer, _ = await connect(port)
    writer.write(frame(TEXT, b"before"))
    assert await read_frame(reader) == (TEXT, b"before")
    writer.write(bad + frame(TEXT, b"never echoed"))
    assert await close_code(reader) == code
    assert await asyncio.wait_for(reader.read(), 5) == b""  # then the server closes the socket
    writer.close()
    await asyncio.sleep(0.1)
    assert app.disconnects == [code]


async def test_the_app_closing_and_refusing(served, protocol):
    app, port = served
    reader, writer, _ = await connect(port)
    writer.write(frame(TEXT, b"close-me") + frame(TEXT, b"dropped after the close"))
    assert await close_code(reader) == 4400
    writer.write(frame(CLOSE, struct.pack("!H", 4400)))
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    _, _, head = await connect(port, "/refuse")
    assert head.startswith(b"HTTP/1.1 403")


async def test_an_app_that_stops_reading_loses_nothing(served, protocol):
    """Reading pauses while messages wait (PAUSE_AT) and resumes as the app catches up; all arrive."""
    app, port = served
    reader, writer, _ = await connect(port)
    app.reading.clear()
    texts = [f"frame {i}" for i in range(PAUSE_AT * 20)]
    for text in texts:
        writer.write(frame(TEXT, text.encode()))
    await writer.drain()
    await asyncio.sleep(0.2)
    app.reading.set()
    assert [(await read_frame(reader))[1].decode() for _ in texts] == texts
    writer.close()


async def test_an_app_whose_reads_time_out_loses_nothing(served, protocol):
    """A `receive()` cancelled by a timeout, even as a message arrives, takes nothing with it."""
    _, port = served
    reader, writer, _ = await connect(port, "/impatient")
    texts = [f"frame {i}" for i in range(200)]
    for i, text in enumerate(texts):
        writer.write(frame(TEXT, text.encode()))
        if i % 3 == 0:
            await writer.drain()
            await asyncio.sleep(0.001 * (i % 5))
    assert [(await read_frame(reader))[1].decode() for _ in texts] == texts
    writer.close()


async def test_texts_taken_inline_keep_their_order_with_the_rest(served, protocol):
    """An app that takes some texts in the read callback (INLINE_TEXT) and the rest through
    `receive()`, which it answers with an awaited send: 120 texts, mixed, in one write and one by
    one. Every text is handled once, in the order sent; on our protocol some went inline (uvicorn's
    offers no such extension, so all came through `receive()`)."""
    app, port = served
    reader, writer, _ = await connect(port, "/inline")
    texts = [f"{'now' if i % 3 else 'later'} {i}" for i in range(120)]
    writer.write(b"".join(frame(TEXT, t.encode()) for t in texts[:60]))
    for text in texts[60:]:
        writer.write(frame(TEXT, text.encode()))
        await writer.drain()
    writer.write(frame(TEXT, b"end"))
    while (await read_frame(reader))[1] != b"end":
        pass
    assert app.handled == [*texts, "end"]
    assert (app.inline > 0) == (protocol is MediaWebSocketProtocol)
    writer.close()


async def test_a_handler_that_raises_loses_no_message(served, protocol):
    """Thrown: an inline handler that raises on one text. Survives: the connection, and every text,
    handled once and in order: the one it raised on and all later ones through `receive()`."""
    app, port = served
    reader, writer, _ = await connect(port, "/inline")
    texts = ["now 1", "later 2", "now boom", "now 3", "later 4", "end"]
    for text in texts:
        writer.write(frame(TEXT, text.encode()))
        await writer.drain()
        await asyncio.sleep(0.02)
    while (await read_frame(reader))[1] != b"end":
        pass
    assert app.handled == texts
    assert app.inline == (1 if protocol is MediaWebSocketProtocol else 0)
    writer.close()


async def test_frames_sent_before_the_101_are_read_whole(served, protocol):
    """A client that does not wait for the 101: a frame's first two bytes arrive before the app
    accepts, the rest after. The parser has consumed them (its buffer is empty, mid-frame), so the
    fast path must not start cutting inside that frame."""
    _, port = served
    first = frame(TEXT, b"sent before the 101")
    reader, writer, head = await connect(port, "/slow", early=first[:2])
    assert head.startswith(b"HTTP/1.1 101")
    writer.write(first[2:] + frame(TEXT, b"and one after"))
    assert await read_frame(reader) == (TEXT, b"sent before the 101")
    assert await read_frame(reader) == (TEXT, b"and one after")
    writer.close()
