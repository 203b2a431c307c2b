"""AudioSocket: the TCP protocol Asterisk dials for `externalMedia encapsulation=audiosocket`.

Message = kind (1 byte) | length (2 bytes, big-endian) | payload. Asterisk is always the client and
sends the call's UUID first; audio is 16-bit little-endian mono. Kinds (res_audiosocket.h):
0x00 hangup, 0x01 UUID, 0x03 DTMF (one ASCII digit, 20.14/21.9/22.4+), 0x10 slin 8 kHz, then one
kind per rate 0x11..0x18 (12, 16, 24, 32, 44.1, 48, 96, 192 kHz) from 20.17/21.12/22.7/23.1 —
before that Asterisk labels every codec 0x10, so the rate comes from the format we asked for, not
from the kind. 0xFF error. Asterisk ends the session on anything we send but audio or hangup.

`AudioSocketServer` accepts connections and hands each to the session registered under its UUID
(registered by the Stasis app before it asks Asterisk for the leg); connections with an unknown
UUID, or that do not start with one, are closed. One bad connection never touches another.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from telephony.guard import FrameGate

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO_8K = 0x10
KIND_ERROR = 0xFF
AUDIO_KINDS: dict[int, int] = {
    0x10: 8000,
    0x11: 12000,
    0x12: 16000,
    0x13: 24000,
    0x14: 32000,
    0x15: 44100,
    0x16: 48000,
    0x17: 96000,
    0x18: 192000,
}
RATE_KINDS = {rate: kind for kind, rate in AUDIO_KINDS.items()}
MAX_PAYLOAD = 0xFFFF
MAX_MESSAGE_BYTES = 16384  # caps on what one leg may send us (telephony.guard): size, rate, burst
MAX_MESSAGE_RATE = 100.0
MESSAGE_BURST = 250.0


class AudioSocketError(ValueError):
    pass


def encode(kind: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise AudioSocketError(f"payload of {len(payload)} bytes does not fit one message")
    return struct.pack("!BH", kind, len(payload)) + payload


def audio_kind(rate: int, per_rate_kinds: bool) -> int:
    """The kind to label audio at `rate`: per rate on 22.7+, 0x10 for everything before."""
    if not per_rate_kinds:
        return KIND_AUDIO_8K
    try:
        return RATE_KINDS[rate]
    except KeyError:
        raise AudioSocketError(f"no AudioSocket kind for {rate} Hz") from None


async def read_message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one message; IncompleteReadError when the peer closes (mid-message or between)."""
    header = await reader.readexactly(3)
    kind, length = struct.unpack("!BH", header)
    payload = await reader.readexactly(length) if length else b""
    return kind, payload


@dataclass
class AudioSocketStats:
    audio: int = 0
    dtmf: int = 0
    unknown_kinds: int = 0
    bad_audio: int = 0  # empty or odd-length audio, or a kind whose rate contradicts the format
    errors: int = 0  # 0xFF messages
    dropped: int = 0  # over the size or rate cap (a flood), before any handling


@dataclass
class AudioSocketSession:
    """One call's leg: the app registers it by UUID, the server attaches the TCP connection."""

    call_uuid: uuid.UUID
    rate: int
    per_rate_kinds: bool
    on_audio: Callable[[bytes], None] | None = None
    on_dtmf: Callable[[str], None] | None = None
    on_close: Callable[[str], None] | None = None
    on_fault: Callable[[str], None] | None = None  # handling a message raised: end the call as failed
    stats: AudioSocketStats = field(default_factory=AudioSocketStats)
    # A real message is one 20 ms frame (640 bytes at 16 kHz, 7,680 at 192 kHz), 50 a second.
    gate: FrameGate = field(
        default_factory=lambda: FrameGate(MAX_MESSAGE_BYTES, MAX_MESSAGE_RATE, MESSAGE_BURST)
    )
    writer: asyncio.StreamWriter | None = field(default=None, repr=False)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def send_audio(self, pcm: bytes) -> bool:
        """Queue one frame on the socket (non-blocking; the engine paces)."""
        if self.writer is None or self.closed or self.writer.is_closing():
            return False
        self.writer.write(encode(audio_kind(self.rate, self.per_rate_kinds), pcm))
        return True

    def close(self, send_hangup: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        if self.writer is not None and not self.writer.is_closing():
            if send_hangup:
                self.writer.write(encode(KIND_HANGUP))
            self.writer.close()

    def handle(self, kind: int, payload: bytes) -> bool:
        """Apply one message from Asterisk; False when the session is over."""
        if kind != KIND_HANGUP and self.gate.admit(len(payload)) is not None:
            self.stats.dropped += 1
            if self.stats.dropped in (1, 1000):
                log.warning(
                    "audiosocket %s: messages dropped over the caps (%d so far)",
                    self.call_uuid,
                    self.stats.dropped,
                )
            return True
        if kind in AUDIO_KINDS:
            if not payload or len(payload) % 2:
                self.stats.bad_audio += 1
                return True
            if kind != KIND_AUDIO_8K and AUDIO_KINDS[kind] != self.rate:
                self.stats.bad_audio += 1
                return True
            self.stats.audio += 1
            if self.on_audio:
                self.on_audio(payload)
            return True
        if kind == KIND_DTMF:
            self.stats.dtmf += 1
            digit = payload[:1].decode("ascii", "replace")
            if digit and self.on_dtmf:
                self.on_dtmf(digit)
            return True
        if kind == KIND_HANGUP:
            return False
        if kind == KIND_ERROR:
            self.stats.errors += 1
            log.warning("audiosocket %s: error message from Asterisk (%s)", self.call_uuid, payload[:1].hex())
            return False
        self.stats.unknown_kinds += 1
        if self.stats.unknown_kinds in (1, 100):
            log.warning("audiosocket %s: ignoring unknown kind 0x%02x", self.call_uuid, kind)
        return True


class AudioSocketServer:
    """The TCP listener every AudioSocket leg of this process connects to."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.sessions: dict[uuid.UUID, AudioSocketSession] = {}
        self.rejected = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def register(self, session: AudioSocketSession) -> None:
        self.sessions[session.call_uuid] = session

    def unregister(self, session: AudioSocketSession) -> None:
        if self.sessions.get(session.call_uuid) is session:
            del self.sessions[session.call_uuid]
        session.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        session: AudioSocketSession | None = None
        reason = "Asterisk hung up"
        failed = False
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                import socket

                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            kind, payload = await asyncio.wait_for(read_message(reader), timeout=5)
            if kind != KIND_UUID or len(payload) != 16:
                raise AudioSocketError(f"first message kind 0x{kind:02x}, length {len(payload)}: not a UUID")
            session = self.sessions.get(uuid.UUID(bytes=payload))
            if session is None or session.writer is not None:
                raise AudioSocketError(f"no call waiting for {uuid.UUID(bytes=payload)}")
            session.writer = writer
            session.connected.set()
            while not session.closed:
                kind, payload = await read_message(reader)
                if not session.handle(kind, payload):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            reason = "AudioSocket connection closed"
        except (AudioSocketError, TimeoutError) as exc:
            self.rejected += 1
            log.warning("audiosocket: closing connection from %s: %s", peer, exc)
            reason = f"AudioSocket protocol error: {exc}"
        except Exception as exc:  # noqa: BLE001 - a bug on one message ends that call, nothing else
            log.exception("audiosocket: handling a message from %s failed; ending its call", peer)
            reason, failed = f"AudioSocket handling failed: {type(exc).__name__}", True
        finally:
            if session is not None and session.writer is writer:
                was_closed = session.closed
                session.closed = True
                notify = session.on_fault if failed and session.on_fault else session.on_close
                if not was_closed and notify:
                    notify(reason)
            if not writer.is_closing():
                writer.close()

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            session.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
