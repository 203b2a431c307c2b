"""Audio for the SIP tests: flite speech as RTP pcaps for sipp, a loopback capture, signal checks.

sipp plays pcaps but records nothing, so the return audio is captured on loopback with `dumpcap`
(what an engineer does on a live trunk) and decoded here.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.codec import DECODERS, ENCODERS, StreamResampler

PT = {"ulaw": 0, "alaw": 8}


def flite_pcm8k(text: str) -> bytes:
    """`text` spoken by flite (slt), as 8 kHz 16-bit PCM."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "say.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
        with wave.open(str(path), "rb") as wav:
            rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    resampler = StreamResampler(rate, 8000)
    return resampler.process(pcm) + resampler.flush()


def tone_pcm8k(freq: float, seconds: float, amplitude: int = 8000) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


@dataclass
class RtpOut:
    at: float  # seconds from the start of the pcap
    payload_type: int
    timestamp: int
    payload: bytes
    marker: bool = False


def write_rtp_pcap(path: Path, packets: list[RtpOut], ssrc: int = 0x1234ABCD) -> Path:
    """A libpcap file of RTP packets (Ethernet/IPv4/UDP), as sipp's play_pcap_audio wants."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    loopback = bytes([127, 0, 0, 1])
    for index, packet in enumerate(packets):
        first = (0x80 if packet.marker else 0) | packet.payload_type
        rtp = struct.pack("!BBHII", 0x80, first, (1000 + index) & 0xFFFF, packet.timestamp, ssrc)
        rtp += packet.payload
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip_header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), index & 0xFFFF, 0, 64, 17, 0, loopback, loopback
        )
        frame = b"\x00" * 12 + b"\x08\x00" + ip_header + udp
        usec = int(round(packet.at * 1_000_000))
        out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


class CallerScript:
    """What a simulated caller sends, as one continuous RTP stream: silence, speech, digits."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.packets: list[RtpOut] = []
        self.clock = 0.0  # seconds
        self.timestamp = 80000
        self._first = True

    def _audio(self, pcm: bytes) -> None:
        wire = ENCODERS[self.encoding](pcm)
        silence_byte = ENCODERS[self.encoding](b"\x00\x00")
        for offset in range(0, len(wire), 160):
            frame = wire[offset : offset + 160].ljust(160, silence_byte)
            self.packets.append(RtpOut(self.clock, PT[self.encoding], self.timestamp, frame, self._first))
            self._first = False
            self.clock += 0.02
            self.timestamp += 160

    def silence(self, seconds: float) -> CallerScript:
        self._audio(b"\x00\x00" * int(8000 * seconds))
        return self

    def nothing(self, seconds: float) -> CallerScript:
        """Silence suppression (DTX, a PBX relaying only what the phone sends): no packets at all for
        `seconds`; the RTP clock runs on, as a phone's does."""
        self.clock += seconds
        self.timestamp += int(8000 * seconds)
        return self

    def say(self, text: str) -> CallerScript:
        self._audio(flite_pcm8k(text))
        return self

    def tone(self, freq: float, seconds: float) -> CallerScript:
        self._audio(tone_pcm8k(freq, seconds))
        return self

    def digit(self, digit: str, ms: int = 120) -> CallerScript:
        """One RFC 4733 event: updates every 20 ms sharing one timestamp, the end packet 3 times."""
        code = "0123456789*#ABCD".index(digit)
        steps = ms // 20
        for step in range(1, steps + 1):
            end = step == steps
            payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, step * 160)
            for _ in range(3 if end else 1):
                self.packets.append(RtpOut(self.clock, 101, self.timestamp, payload, step == 1))
            self.clock += 0.02
        self.timestamp += steps * 160
        return self

    @property
    def duration_ms(self) -> int:
        return int(self.clock * 1000)

    def write(self, path: Path) -> Path:
        return write_rtp_pcap(path, self.packets)


# ---------------------------------------------------------------------------------------------------
@dataclass
class Datagram:
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def read_pcap(path: Path) -> list[Datagram]:
    """UDP datagrams from a libpcap file (Linux cooked, Ethernet or raw IPv4 link types)."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_len = {1: 14, 113: 16, 101: 0, 228: 0, 0: 4}.get(linktype, 14)
    offset, result = 24, []
    while offset + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        ip = frame[link_len:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        src_port, dst_port, length = struct.unpack("!HHH", ip[ihl : ihl + 6])
        src = (".".join(map(str, ip[12:16])), src_port)
        dst = (".".join(map(str, ip[16:20])), dst_port)
        result.append(Datagram(sec + frac / (1e9 if nano else 1e6), src, dst, ip[ihl + 8 : ihl + length]))
    return result


class LoopbackCapture:
    """dumpcap on `lo` with a BPF filter, for the lifetime of a `with` block."""

    def __init__(self, bpf: str, directory: Path) -> None:
        self.bpf = bpf
        self.path = Path(directory) / f"capture-{time.monotonic_ns()}.pcap"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LoopbackCapture:
        dumpcap = shutil.which("dumpcap") or "/usr/bin/dumpcap"
        self.process = subprocess.Popen(
            [dumpcap, "-q", "-i", "lo", "-f", self.bpf, "-P", "-w", str(self.path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # dumpcap creates the file once it is capturing
        deadline = time.monotonic() + 10
        while not self.path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            time.sleep(0.3)  # let the last packets reach the file
            self.process.terminate()
            self.process.wait(10)

    def datagrams(self) -> list[Datagram]:
        return read_pcap(self.path) if self.path.exists() else []


def rtp_streams(datagrams: list[Datagram]) -> dict[tuple, list[tuple[int, int, bytes]]]:
    """Group RTP packets by (src, dst): [(payload type, sequence, payload)] in arrival order."""
    streams: dict[tuple, list[tuple[int, int, bytes]]] = {}
    for d in datagrams:
        if len(d.payload) < 12 or d.payload[0] >> 6 != 2:
            continue
        pt = d.payload[1] & 0x7F
        seq = struct.unpack("!H", d.payload[2:4])[0]
        cc = d.payload[0] & 0x0F
        streams.setdefault((d.src, d.dst), []).append((pt, seq, d.payload[12 + 4 * cc :]))
    return streams


def decode_stream(packets: list[tuple[int, int, bytes]], encoding: str) -> bytes:
    """G.711 payloads of one stream (audio payload type only) to 8 kHz PCM."""
    pt = PT[encoding]
    return DECODERS[encoding](b"".join(p for t, _, p in packets if t == pt))


def to_16k(pcm8k: bytes) -> bytes:
    resampler = StreamResampler(8000, 16000)
    return resampler.process(pcm8k) + resampler.flush()


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
