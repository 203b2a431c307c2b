"""The emulator's externalMedia legs, each a real socket on a real 20 ms clock.

Internally the emulator mixes 16 kHz 16-bit PCM in 20 ms frames (640 bytes); each leg converts to
and from its wire format with the emulators' own wire code (`emulators.wire`, not the product's),
the way Asterisk transcodes at a channel edge.
Legs also check what the app sends (payload type, frame size, kinds, pacing) into `stats`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulators.wire import audiosocket, rtp
from emulators.wire.g711 import DECODE, ENCODE
from emulators.wire.resample import Resampler

from . import facts

if TYPE_CHECKING:
    from .server import AsteriskEmulator, Channel

log = logging.getLogger(__name__)

FRAME = 640  # 20 ms at 16 kHz, 16-bit
SILENCE = bytes(FRAME)
# externalMedia format -> (codec name for emulators.wire.g711, rate, RTP payload type)
FORMATS: dict[str, tuple[str, int, int]] = {
    "ulaw": ("ulaw", 8000, 0),
    "alaw": ("alaw", 8000, 8),
    "slin": ("pcm", 8000, 10),
    "slin16": ("pcm", 16000, 118),
}


def _swap16(data: bytes) -> bytes:
    """16-bit byte swap (slin over RTP is big-endian, reference §0.2)."""
    swapped = bytearray(len(data) - len(data) % 2)
    swapped[0::2] = data[1 : len(swapped) : 2]
    swapped[1::2] = data[0 : len(swapped) : 2]
    return bytes(swapped)


@dataclass
class LegStats:
    frames_in: int = 0  # frames received from the app
    frames_out: int = 0  # frames sent to the app
    bytes_in: int = 0
    wrong_payload_type: int = 0
    dynamic_pt_dropped: int = 0
    wrong_frame_size: int = 0
    strict_rtp_dropped: int = 0
    malformed: int = 0
    wrong_kind: int = 0
    short_messages_dropped: int = 0
    queue_full_dropped: int = 0
    max_queue: int = 0
    xoff_sent: int = 0
    marks_processed: int = 0
    flushes: int = 0
    commands: list[str] = field(default_factory=list)
    arrival_gaps_ms: list[float] = field(default_factory=list)


class Leg:
    """What every leg shares: converters, the inbound queue the mixer plays from, stats."""

    jitter_buffered = False  # chan_websocket re-times; RTP and AudioSocket relay as they come

    def __init__(self, emulator: AsteriskEmulator, channel: Channel, fmt: str) -> None:
        self.emulator = emulator
        self.channel = channel
        self.format = fmt
        self.codec, self.rate, self.payload_type = FORMATS[fmt]
        self.stats = LegStats()
        self.inbound: deque[Any] = deque()
        self._to_wire = Resampler(16000, self.rate, quality="QQ")
        self._from_wire = Resampler(self.rate, 16000, quality="QQ")
        self._partial = b""
        self._last_arrival: float | None = None
        self.closed = False

    # Mixer side -------------------------------------------------------------------------------
    def wire_frame(self, pcm16k: bytes) -> bytes:
        return ENCODE[self.codec](self._to_wire.process(pcm16k))

    def accept_wire(self, payload: bytes) -> None:
        """Audio from the app in the leg's format -> 16 kHz frames on the inbound queue."""
        now = time.monotonic()
        if self._last_arrival is not None:
            self.stats.arrival_gaps_ms.append((now - self._last_arrival) * 1000)
            if len(self.stats.arrival_gaps_ms) > 20000:
                del self.stats.arrival_gaps_ms[:10000]
        self._last_arrival = now
        self.stats.frames_in += 1
        self.stats.bytes_in += len(payload)
        pcm = self._partial + self._from_wire.process(DECODE[self.codec](payload))
        whole = len(pcm) - len(pcm) % FRAME
        for i in range(0, whole, FRAME):
            self.inbound.append(pcm[i : i + FRAME])
        self._partial = pcm[whole:]
        self.stats.max_queue = max(self.stats.max_queue, len(self.inbound))

    def pop_inbound(self) -> bytes | None:
        return self.inbound.popleft() if self.inbound else None

    def send_frame(self, pcm16k: bytes) -> None:
        raise NotImplementedError

    def skip_frame(self) -> None:
        """The phone sent nothing for this 20 ms (silence suppression): neither does the leg."""

    def send_dtmf(self, digit: str) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


# --------------------------------------------------------------------------------------------------
class RtpLeg(Leg, asyncio.DatagramProtocol):
    """chan_rtp UnicastRTP: sends to external_host, takes static payload types back (§3a)."""

    def __init__(self, emulator: AsteriskEmulator, channel: Channel, fmt: str, external: tuple[str, int]):
        Leg.__init__(self, emulator, channel, fmt)
        self.external = external
        self.transport: asyncio.DatagramTransport | None = None
        self.local = ("", 0)
        self.sender = rtp.Stream(self.payload_type, clock_rate=self.rate)
        self._learned: tuple[str, int] | None = None
        self._candidate: tuple[tuple[str, int], int, int] | None = None  # (source, last seq, count)
        self.arrivals: deque[tuple[float, int]] = deque(maxlen=200_000)  # (monotonic, RTP ts), for bench
        self._talkspurt = False  # the next packet starts a talk-spurt after suppressed silence

    async def start(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, 0))

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.local = transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data: bytes, addr) -> None:
        source = (addr[0], addr[1])
        try:
            packet = rtp.unpack(data)
        except rtp.BadPacket:
            self.stats.malformed += 1
            return
        if source != self.external and source != self._learned:
            # Strict RTP: a source other than external_host needs 4 sequential packets (§0.11).
            cand = self._candidate
            if cand and cand[0] == source and packet.sequence == (cand[1] + 1) & 0xFFFF:
                count = cand[2] + 1
            else:
                count = 1
            self._candidate = (source, packet.sequence, count)
            if count < 4:
                self.stats.strict_rtp_dropped += 1
                return
            self._learned = source
        if packet.payload_type > rtp.LAST_STATIC_PT:
            self.stats.dynamic_pt_dropped += 1  # UnicastRTP has no SDP: dynamic PTs are dropped
            return
        if packet.payload_type != self.payload_type:
            self.stats.wrong_payload_type += 1
            return
        self.arrivals.append((time.monotonic(), packet.timestamp))
        expected = 160 if self.codec != "pcm" else 320
        if len(packet.payload) != expected:
            self.stats.wrong_frame_size += 1
        payload = _swap16(packet.payload) if self.codec == "pcm" else packet.payload
        self.accept_wire(payload)

    def send_frame(self, pcm16k: bytes) -> None:
        if self.transport is None or self.closed:
            return
        wire = self.wire_frame(pcm16k)
        if self.codec == "pcm":
            samples = len(wire) // 2
            wire = _swap16(wire)
        else:
            samples = len(wire)
        if not wire:
            return
        self.transport.sendto(self.sender.audio(wire, samples, marker=self._talkspurt), self.external)
        self._talkspurt = False
        self.stats.frames_out += 1

    def skip_frame(self) -> None:
        """No packet; the RTP clock still moves on and the next packet carries the marker bit
        (RFC 3551 §4.1: the first packet of a talk-spurt after silence suppression)."""
        self.sender.skip(self.sender.clock_rate // 50)
        self._talkspurt = True

    def send_dtmf(self, digit: str) -> None:
        if self.transport is None or self.closed:
            return
        for data in self.sender.dtmf(digit, 100):
            self.transport.sendto(data, self.external)

    def inject(self, data: bytes) -> None:
        """Test hook: put raw bytes on the wire to the app (a malformed packet)."""
        if self.transport is not None:
            self.transport.sendto(data, self.external)

    async def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


# --------------------------------------------------------------------------------------------------
class AudioSocketLeg(Leg):
    """chan_audiosocket: Asterisk dials the app over TCP, UUID first, then audio both ways (§3b)."""

    def __init__(self, emulator, channel, fmt: str, external: tuple[str, int], call_uuid: uuid.UUID):
        super().__init__(emulator, channel, fmt)
        self.external = external
        self.call_uuid = call_uuid
        self.version = emulator.version
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None

    @property
    def out_kind(self) -> int:
        if facts.has(self.version, "audiosocket_rate_kinds"):
            return audiosocket.KIND_FOR_RATE[self.rate]
        return 0x10

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(*self.external), 2)
        self.writer.write(audiosocket.frame(audiosocket.UUID, self.call_uuid.bytes))
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        cause = 16
        try:
            while True:
                kind, payload = await audiosocket.read(self.reader)
                if kind == audiosocket.HANGUP:
                    break
                if kind in audiosocket.AUDIO_RATES:
                    if not payload:
                        log.error("audiosocket leg: zero-length audio, ending the session")
                        cause = 38
                        break
                    if facts.has(self.version, "audiosocket_rate_kinds"):
                        accepted = {self.out_kind} | ({0x10} if self.rate == 8000 else set())
                    else:
                        accepted = {0x10}
                    if kind not in accepted:
                        self.stats.wrong_kind += 1
                        log.error("audiosocket leg: kind 0x%02x not accepted, ending the session", kind)
                        cause = 38
                        break
                    self.accept_wire(payload)
                    continue
                self.stats.wrong_kind += 1
                log.error("audiosocket leg: unexpected kind 0x%02x from the app, ending the session", kind)
                cause = 38
                break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            return
        if not self.closed:
            self.closed = True
            self.emulator.leg_failed(self.channel, cause)

    def send_frame(self, pcm16k: bytes) -> None:
        if self.writer is None or self.closed or self.writer.is_closing():
            return
        wire = self.wire_frame(pcm16k)
        if wire:
            self.writer.write(audiosocket.frame(self.out_kind, wire))
            self.stats.frames_out += 1

    def send_dtmf(self, digit: str) -> None:
        if self.writer is not None and not self.closed and facts.has(self.version, "audiosocket_dtmf"):
            self.writer.write(audiosocket.frame(audiosocket.DTMF, digit.encode()))

    def inject(self, data: bytes) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(data)

    async def close(self) -> None:
        was_closed = self.closed
        self.closed = True
        if self._task is not None:
            self._task.cancel()
        if self.writer is not None and not self.writer.is_closing():
            if not was_closed:
                self.writer.write(audiosocket.frame(audiosocket.HANGUP))
            self.writer.close()


# --------------------------------------------------------------------------------------------------
QUEUE_MAX, XOFF_LEVEL, XON_LEVEL = 1000, 900, 800
MAX_TEXT = 128


class WebSocketLeg(Leg):
    """chan_websocket in server mode: the app dials /media/<connection id> (§3c)."""

    jitter_buffered = True

    def __init__(self, emulator, channel, fmt: str, control_format: str) -> None:
        super().__init__(emulator, channel, fmt)
        self.connection_id = str(uuid.uuid4())
        self.optimal = {"ulaw": 160, "alaw": 160, "pcm": 320 if self.rate == 8000 else 640}[self.codec]
        self.control_format = control_format
        self.ws = None  # aiohttp WebSocketResponse
        self.xoff = False
        self.paused = False
        self.buffering = False
        self._buffer = b""

    @property
    def media_queue(self) -> int:
        return sum(1 for item in self.inbound if isinstance(item, bytes))

    async def send_event(self, event: str, **fields: Any) -> None:
        if self.ws is None or self.ws.closed:
            return
        if self.control_format == "json":
            text = json.dumps({"event": event, "channel_id": self.channel.id, **fields})
        else:
            text = " ".join([event, *(f"{k}:{v}" for k, v in fields.items())])
        await self.ws.send_str(text)

    def _event_soon(self, event: str, **fields: Any) -> None:
        asyncio.get_running_loop().create_task(self.send_event(event, **fields))

    async def on_open(self) -> None:
        fields = {"connection_id": self.connection_id, "channel": self.channel.name}
        if facts.has(self.emulator.version, "media_start_channel_id"):
            fields["channel_id"] = self.channel.id
        fields.update(format=self.format, optimal_frame_size=self.optimal, ptime=20)
        await self.send_event("MEDIA_START", **fields)

    def on_binary(self, data: bytes) -> None:
        if self.buffering:
            self._buffer += data
            return
        if len(data) < self.optimal:
            self.stats.short_messages_dropped += 1
            return
        whole = len(data) - len(data) % self.optimal
        for i in range(0, whole, self.optimal):
            self._queue_frame(data[i : i + self.optimal])

    def _queue_frame(self, frame: bytes) -> None:
        if self.media_queue >= QUEUE_MAX:
            self.stats.queue_full_dropped += 1
            return
        self.stats.frames_in += 1
        self.stats.bytes_in += len(frame)
        self.inbound.append(frame)
        depth = self.media_queue
        self.stats.max_queue = max(self.stats.max_queue, depth)
        if depth >= XOFF_LEVEL and not self.xoff:
            self.xoff = True
            self.stats.xoff_sent += 1
            self._event_soon("MEDIA_XOFF")

    def on_text(self, text: str) -> None:
        if len(text.encode()) > MAX_TEXT:
            log.warning("chan_websocket: text message longer than %d bytes ignored", MAX_TEXT)
            return
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                self._event_soon("ERROR", error_text="invalid JSON")
                return
            command, arg = data.get("command", ""), data.get("correlation_id", "")
        else:
            command, _, arg = text.strip().partition(" ")
        self.stats.commands.append(command)
        if command == "FLUSH_MEDIA":
            self.stats.flushes += 1
            self.inbound = deque(i for i in self.inbound if not isinstance(i, bytes))
            self.buffering = self.paused = False
            self._check_xon()
        elif command == "MARK_MEDIA" and facts.has(self.emulator.version, "websocket_marks"):
            self.inbound.append(("mark", arg))
        elif command == "HANGUP":
            self.emulator.loop_task(self.emulator.hangup_channel(self.channel, 16))
        elif command == "START_MEDIA_BUFFERING":
            self.buffering = True
        elif command == "STOP_MEDIA_BUFFERING":
            self.buffering = False
            data, self._buffer = self._buffer, b""
            for i in range(0, len(data) - len(data) % self.optimal, self.optimal):
                self._queue_frame(data[i : i + self.optimal])
            self._event_soon("MEDIA_BUFFERING_COMPLETED", correlation_id=arg)
        elif command == "PAUSE_MEDIA":
            self.paused = True
        elif command == "CONTINUE_MEDIA":
            self.paused = False
        elif command == "GET_STATUS":
            self._event_soon(
                "STATUS",
                queue_length=self.media_queue,
                xon_level=XON_LEVEL,
                xoff_level=XOFF_LEVEL,
                queue_full=self.media_queue >= QUEUE_MAX,
                media_paused=self.paused,
            )
        elif command == "ANSWER":
            pass
        else:
            log.warning("chan_websocket: unknown command %r", command)

    def _check_xon(self) -> None:
        if self.xoff and self.media_queue < XON_LEVEL:
            self.xoff = False
            self._event_soon("MEDIA_XON")

    def pop_inbound(self) -> bytes | None:
        if self.paused:
            return None
        while self.inbound and not isinstance(self.inbound[0], bytes):
            _, name = self.inbound.popleft()
            self.stats.marks_processed += 1
            self._event_soon("MEDIA_MARK_PROCESSED", correlation_id=name)
        if not self.inbound:
            return None
        frame = self.inbound.popleft()
        self._check_xon()
        pcm = self._from_wire.process(DECODE[self.codec](frame))
        pcm = self._partial + pcm
        if len(pcm) >= FRAME:
            self._partial = pcm[FRAME:]
            return pcm[:FRAME]
        self._partial = pcm
        return None

    def send_frame(self, pcm16k: bytes) -> None:
        if self.ws is None or self.ws.closed or self.closed:
            return
        wire = self.wire_frame(pcm16k)
        if wire:
            asyncio.get_running_loop().create_task(self._send_bytes(wire))
            self.stats.frames_out += 1

    async def _send_bytes(self, data: bytes) -> None:
        try:
            await self.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            pass

    def send_dtmf(self, digit: str) -> None:
        self._event_soon("DTMF_END", digit=digit)

    def inject(self, text: str) -> None:
        """Test hook: put a raw text message on the media socket to the app (a malformed control)."""
        if self.ws is not None and not self.ws.closed:
            asyncio.get_running_loop().create_task(self.ws.send_str(text))

    async def close(self) -> None:
        self.closed = True
        if self.ws is not None and not self.ws.closed:
            await self.ws.close(code=1000)
