"""SIP over UDP and TCP: bytes in, parsed messages up to the core, responses back the same way.

A `Flow` is "where this message came from and how to answer": the UDP socket and source address,
or the TCP connection. Responses always go back to the source address (RFC 3581 `rport`
behaviour even when the client did not ask), which is what works behind NAT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .message import (
    MAX_MESSAGE_BYTES,
    SipParseError,
    SipRequest,
    SipResponse,
    parse_message,
    request_head_fields,
    split_head,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Flow:
    """How to reach the sender of a message."""

    transport: str  # "UDP" or "TCP"
    addr: tuple[str, int]
    _send: Callable[[bytes], bool] = field(repr=False, default=lambda data: False)

    @property
    def reliable(self) -> bool:
        return self.transport == "TCP"

    def send(self, data: bytes) -> bool:
        return self._send(data)


# The core's entry points: a parsed message, or a request we could not parse (-> 400).
MessageHandler = Callable[[SipRequest | SipResponse, Flow], None]
BadRequestHandler = Callable[[SipRequest, str, Flow], None]


class UdpTransport(asyncio.DatagramProtocol):
    def __init__(self, on_message: MessageHandler, on_bad_request: BadRequestHandler) -> None:
        self.on_message = on_message
        self.on_bad_request = on_bad_request
        self.transport: asyncio.DatagramTransport | None = None
        self.local_address: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.local_address = transport.get_extra_info("sockname")[:2]

    def error_received(self, exc: Exception) -> None:
        log.debug("sip/udp: socket error %s", exc)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.sendto(data, addr)
        return True

    def flow(self, addr: tuple[str, int]) -> Flow:
        return Flow("UDP", addr, lambda data: self.sendto(data, addr))

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        source = (addr[0], addr[1])
        if not data.strip(b"\r\n\x00 "):
            return  # keep-alive (RFC 5626 CRLF ping) or an empty datagram
        dispatch(data, self.flow(source), self.on_message, self.on_bad_request, stream=False)


def dispatch(
    data: bytes,
    flow: Flow,
    on_message: MessageHandler,
    on_bad_request: BadRequestHandler,
    stream: bool,
) -> None:
    """Parse and hand up; a malformed request that can still be answered gets a 400 from the core."""
    try:
        message = parse_message(data, stream=stream)
    except SipParseError as exc:
        request = request_head_fields(data)
        if request is not None and request.method != "ACK":
            on_bad_request(request, exc.reason, flow)
        else:
            log.warning("sip: dropped unparseable message from %s:%s (%s)", *flow.addr, exc.reason)
        return
    try:
        on_message(message, flow)
    except Exception:  # a bug handling one message must not take the listener down
        log.exception("sip: error handling a message from %s:%s", *flow.addr)


class TcpConnection:
    """One TCP connection: frames messages by Content-Length, writes responses back."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_message: MessageHandler,
        on_bad_request: BadRequestHandler,
    ) -> None:
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.flow = Flow("TCP", (peer[0], peer[1]), self.write)
        self.on_message = on_message
        self.on_bad_request = on_bad_request

    def write(self, data: bytes) -> bool:
        if self.writer.is_closing():
            return False
        self.writer.write(data)
        return True

    async def run(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    return
                buffer += chunk
                buffer = self._drain(buffer)
                if buffer is None:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.writer.close()

    def _drain(self, buffer: bytes) -> bytes | None:
        """Hand up every complete message in `buffer`; None means the stream is unusable."""
        while True:
            buffer = buffer.lstrip(b"\r\n")  # CRLF keep-alives between messages
            parts = split_head(buffer)
            if parts is None:
                if len(buffer) > MAX_MESSAGE_BYTES:
                    log.warning("sip/tcp: header too large from %s:%s, closing", *self.flow.addr)
                    return None
                return buffer
            head, rest = parts
            length = 0
            for line in head.split(b"\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() in (b"content-length", b"l"):
                    text = value.strip()
                    if not text.isdigit():
                        self._reject(buffer[: len(head) + 4])
                        return None  # framing lost: we cannot know where the next message starts
                    length = int(text)
            if length > MAX_MESSAGE_BYTES:
                return None
            if len(rest) < length:
                return buffer
            whole = buffer[: len(buffer) - len(rest) + length]
            buffer = rest[length:]
            dispatch(whole, self.flow, self.on_message, self.on_bad_request, stream=True)

    def _reject(self, data: bytes) -> None:
        request = request_head_fields(data)
        if request is not None:
            self.on_bad_request(request, "bad Content-Length", self.flow)
