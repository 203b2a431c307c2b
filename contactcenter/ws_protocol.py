"""uvicorn's sans-I/O WebSocket protocol, lighter on the media sockets' small whole frames.

A carrier's media socket is 50 small text frames a second in and up to 50 out, for the whole call.
uvicorn's `websockets-sansio` protocol pays, per inbound frame, the `websockets` parser's generator
steps (header, mask, payload, each through `read_exact`) and a `pause_reading()` plus a
`resume_reading()` of the socket (it pauses after every message until the app has read it); per
outbound frame, a `Frame` object serialized in Python. Here, once the connection is open:

- inbound bytes are cut into whole frames here; a whole, final, masked text or binary frame within
  `ws_max_size`, outside a fragmented message, is unmasked (the `websockets` C speedup) and queued for
  the app directly. Every other frame (ping, pong, close, fragments, reserved bits or opcodes, an
  unmasked or oversized frame) goes to the `websockets` parser as it came, always whole, so the
  parser stays at a frame boundary and answers it exactly as uvicorn does (pong, close handshake,
  1002, 1007, 1009). Once the connection leaves OPEN, or a frame is too big to wait for whole,
  everything goes to the parser as before.
- reading pauses only when PAUSE_AT messages wait for the app, and resumes when half are read:
  back-pressure still bounds what one socket can queue.
- a text or binary message out is a header and the payload written at once (a server's frames
  are not masked).
- the messages wait for the app in an `Inbox`, not an `asyncio.Queue`: the queue's `get` asks
  `_get_loop()` for the running loop each time it waits, and on Python 3.11 that is a `getpid()`
  system call, once per inbound frame (8 % of the media process's busy time at 30 calls in a native
  profile).
- an app may take text messages in the read callback itself: the connection's scope carries
  `scope["extensions"][INLINE_TEXT]`, a function the app calls with `handler(text) -> bool` (or None
  to stop). While the app is waiting in `receive()` with nothing queued, a text message goes to the
  handler instead of the queue; True means it was handled, False that it goes to the queue as usual
  (a message that needs an await). Order and one-message-at-a-time are kept: the handler only runs
  while the app is idle in `receive()`. The media consumers take their media frames this way
  (telephony/sockets.py): no future, task wake-up or coroutine chain per frame.

`bench/socket_floor.py` measures it against uvicorn's own protocols (README, Benchmarks);
`tests/test_ws_protocol.py` drives it with frames cut and joined every way over real sockets.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State
from websockets.speedups import apply_mask

INLINE_TEXT = "contactcenter.inline_text"  # the scope extension of the module docstring
PAUSE_AT = 8  # messages waiting for the app before reading pauses (uvicorn: 1)
_TEXT, _BINARY = 0x1, 0x2


def _header(opcode: int, length: int) -> bytes:
    """A final, unmasked frame's header (RFC 6455 §5.2)."""
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 1 << 16:
        return bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    return bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")


class Inbox:
    """The part of `asyncio.Queue` uvicorn's protocol uses (`put_nowait`, `get`, `qsize`, `empty`),
    unbounded, on the protocol's own loop, so waiting costs a future and no system call."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[Any] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_next()

    async def get(self) -> Any:
        while not self._items:
            getter = self._loop.create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:  # cancelled: a wake-up this getter took goes to the next one
                if getter in self._getters:
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    self._wake_next()
                raise
        return self._items.popleft()

    def _wake_next(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    @property
    def idle(self) -> bool:
        """The app waits in `get` with nothing queued."""
        getters = self._getters
        return not self._items and bool(getters) and not getters[-1].done()

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items


class MediaWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol with the fast paths of the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox(self.loop)  # type: ignore[assignment]  # module docstring
        self._framing = False  # True while this class cuts the inbound frames (OPEN, parser at a boundary)
        self._inbox = bytearray()  # inbound bytes of a frame not yet whole
        # The parser was given bytes after the opening request (a client that sent frames before our
        # 101): it may be inside a frame even with its buffer empty, so this connection never cuts.
        self._parser_fed = False
        self._inline: Callable[[str], bool] | None = None  # the app's text handler (INLINE_TEXT)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # the app's task is created, not started: it sees this
            self.scope["extensions"][INLINE_TEXT] = self._take_inline

    def _take_inline(self, handler: Callable[[str], bool] | None) -> None:
        self._inline = handler

    def _take_now(self, text: str) -> bool:
        """The app's handler, which must not raise: if it does, the message goes to the queue (the app
        meets it in `receive()`) and the handler is dropped, rather than the read callback failing."""
        try:
            return self._inline(text)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - a read callback must not raise
            self.logger.exception("inline text handler failed; messages go through receive() from here")
            self._inline = None
            return False

    # --- inbound -----------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if not self._framing:
            if not self._may_frame():
                if self.handshake_initiated:
                    self._parser_fed = True
                super().data_received(data)
                return
            self._framing = True
        if self._inbox:
            self._inbox += data
            data = bytes(self._inbox)
            self._inbox.clear()
        self._cut(data)

    def _may_frame(self) -> bool:
        """Open, handshake done, and the parser holding no partial input: safe to start cutting."""
        conn = self.conn
        return (
            self.handshake_complete
            and not self.close_sent
            and self.initial_response is None
            and conn.state is State.OPEN
            and conn.parser_exc is None
            and not conn.reader.buffer
            and not self._parser_fed
        )

    def _cut(self, data: bytes) -> None:
        """Deliver every whole frame in `data`; keep a partial one for the next read."""
        size, at = len(data), 0
        max_size = self.conn.max_message_size
        while at < size:
            if size - at < 2:
                break
            b0, b1 = data[at], data[at + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                head = 4
                if size - at < head:
                    break
                length = int.from_bytes(data[at + 2 : at + 4], "big")
            elif length == 127:
                head = 10
                if size - at < head:
                    break
                length = int.from_bytes(data[at + 2 : at + 10], "big")
            masked = b1 & 0x80
            if masked:
                head += 4
            if max_size is not None and length > max_size:
                self._to_parser(data[at:])  # the parser refuses it (1009) without waiting for it whole
                return
            end = at + head + length
            if end > size:
                break
            opcode = b0 & 0x0F
            if (
                b0 & 0xF0 == 0x80  # final, no reserved bits
                and masked
                and (opcode == _TEXT or opcode == _BINARY)
                and self.conn.current_size is None  # not inside a fragmented message
            ):
                payload = apply_mask(data[at + head : end], data[at + head - 4 : at + head])
                self.curr_msg_data_type = "text" if opcode == _TEXT else "bytes"
                self.frames = [payload]
                self.send_receive_event_to_app()
            else:
                super().data_received(data[at:end])  # whole: the parser ends at a frame boundary
                if self.conn.state is not State.OPEN or self.conn.parser_exc is not None:
                    self._to_parser(data[end:])
                    return
            if self.close_sent:  # the app closed (or a bad message made us close): read no further
                self._to_parser(data[end:])
                return
            at = end
        if at < size:
            self._inbox += data[at:]

    def _to_parser(self, rest: bytes) -> None:
        """From here on the `websockets` parser reads everything, as in uvicorn's own protocol."""
        self._framing = False
        if rest:
            super().data_received(rest)

    def send_receive_event_to_app(self) -> None:
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # as uvicorn: past `websocket.close`, messages are dropped until the peer's close
        if self.curr_msg_data_type == "text":
            try:
                text = data.decode()
            except UnicodeDecodeError:
                self.logger.info("Invalid UTF-8 sequence received from client.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
            if self._inline is not None and self.queue.idle and self._take_now(text):
                return
            self.queue.put_nowait({"type": "websocket.receive", "text": text})
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": data})
        if not self.read_paused and self.queue.qsize() >= PAUSE_AT:
            self.read_paused = True
            self.transport.pause_reading()

    async def receive(self) -> Any:
        message = await self.queue.get()
        if self.read_paused and self.queue.qsize() <= PAUSE_AT // 2:
            self.read_paused = False
            self.transport.resume_reading()
        return message

    # --- outbound ----------------------------------------------------------------------------------
    async def send(self, message: Any) -> None:
        kind = message["type"]
        if (
            kind == "websocket.send"
            and self.handshake_complete
            and not self.close_sent
            and self.initial_response is None
            and self.conn.state is State.OPEN
            and self.writable.is_set()
        ):
            if self.disconnected:
                raise ClientDisconnected()
            text = message.get("text")
            if message.get("bytes") is not None:
                payload, opcode = message["bytes"], _BINARY
            elif text is not None:
                payload, opcode = text.encode(), _TEXT
            else:
                return
            self.transport.write(_header(opcode, len(payload)) + payload)
            return
        await super().send(message)
