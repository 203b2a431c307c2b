"""telephony.rtp: packets, RFC 4733 DTMF and the UDP endpoint, over real sockets."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from telephony.rtp import (
    PT_PCMA,
    PT_PCMU,
    PT_TELEPHONE_EVENT,
    DtmfEvent,
    DtmfReceiver,
    RtpEndpoint,
    RtpError,
    RtpPacket,
    RtpSender,
    build_rtp,
    digit_to_event,
    event_to_digit,
    parse_dtmf,
    parse_rtp,
    payload_type_for,
)


def test_header_round_trip_with_csrc_extension_padding_marker():
    packet = RtpPacket(
        payload_type=PT_PCMA,
        sequence=65535,
        timestamp=0xFFFFFFF0,
        ssrc=0xDEADBEEF,
        payload=b"\xd5" * 160,
        marker=True,
        csrcs=(1, 2, 3),
        extension=(0xBEDE, b"\x10\xff\x00\x00"),
        padding=4,
    )
    data = build_rtp(packet)
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[1] == 0x80 | 8
    assert len(data) == 12 + 12 + 8 + 160 + 4
    assert parse_rtp(data) == packet


def test_first_ulaw_packet_matches_asterisk_bytes():
    """Reference §3d: `80 80 <seq> <ts> <ssrc>` on the first u-law packet, then `80 00`."""
    sender = RtpSender(PT_PCMU, ssrc=0x01020304)
    first = sender.audio(b"\xff" * 160)
    second = sender.audio(b"\xff" * 160)
    assert first[:2] == b"\x80\x80" and second[:2] == b"\x80\x00"
    p1, p2 = parse_rtp(first), parse_rtp(second)
    assert p2.sequence == (p1.sequence + 1) & 0xFFFF
    assert p2.timestamp == (p1.timestamp + 160) & 0xFFFFFFFF
    assert p1.ssrc == p2.ssrc == 0x01020304


def test_sequence_and_timestamp_wrap():
    sender = RtpSender(PT_PCMU)
    sender.sequence, sender.timestamp = 0xFFFF, 0xFFFFFF60
    a, b = parse_rtp(sender.audio(b"\x00" * 160)), parse_rtp(sender.audio(b"\x00" * 160))
    assert (a.sequence, b.sequence) == (0xFFFF, 0)
    assert b.timestamp == 0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\x00\x00",  # truncated header
        b"\x40" + b"\x00" * 20,  # version 1
        b"\x8f" + b"\x00" * 11 + b"\x00" * 8,  # 15 CSRCs announced, 2 present
        b"\x90" + b"\x00" * 11 + b"\x00\x00\x00\x05",  # extension of 5 words, none present
        b"\xa0" + b"\x00" * 11 + b"\x00\x00\x00\x00",  # padding count 0
        b"\xa0" + b"\x00" * 11 + b"\x01\x02\x03\x09",  # padding count 9 > packet
    ],
)
def test_malformed_packets_raise_rtp_error(data):
    with pytest.raises(RtpError):
        parse_rtp(data)


def test_payload_types_and_digits():
    assert payload_type_for("ulaw") == 0 and payload_type_for("PCMA") == 8
    with pytest.raises(ValueError):
        payload_type_for("slin16")
    assert [digit_to_event(d) for d in "09*#AD"] == [0, 9, 10, 11, 12, 15]
    assert event_to_digit(11) == "#" and event_to_digit(16) is None
    assert DtmfEvent(5, True, 10, 800).to_bytes() == b"\x05\x8a\x03\x20"
    assert parse_dtmf(b"\x05\x8a\x03\x20") == DtmfEvent(5, True, 10, 800)


def test_dtmf_sender_shape_and_receiver_dedupe():
    """RFC 4733: marker on the first packet, one timestamp, end packet sent three times."""
    sender = RtpSender(PT_PCMU, telephone_event_pt=PT_TELEPHONE_EVENT)
    sender.audio(b"\xff" * 160)
    ts_before = sender.timestamp
    packets = [parse_rtp(p) for p in sender.dtmf("7", duration_ms=100)]
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    assert {p.timestamp for p in packets} == {ts_before}
    assert all(p.payload_type == PT_TELEPHONE_EVENT for p in packets)
    ends = [p for p in packets if parse_dtmf(p.payload).end]
    assert len(ends) == 3 and parse_dtmf(ends[0].payload).duration == 800
    assert sender.timestamp == ts_before + 800
    receiver = DtmfReceiver()
    digits = [d for p in packets + packets[-2:] for d in [receiver.feed(p)] if d]
    assert digits == ["7"]


def test_dtmf_receiver_reports_event_whose_end_was_lost():
    sender = RtpSender(PT_PCMU)
    first = [parse_rtp(p) for p in sender.dtmf("1")]
    second = [parse_rtp(p) for p in sender.dtmf("2")]
    receiver = DtmfReceiver()
    got = [receiver.feed(p) for p in first[:-3] + second]  # every end packet of "1" lost
    assert [d for d in got if d] == ["1", "2"]
    # Only the end packets of two events arrive, and the first end of "4" is all we see of it.
    third = [parse_rtp(p) for p in sender.dtmf("3")]
    fourth = [parse_rtp(p) for p in sender.dtmf("4")]
    got = [receiver.feed(p) for p in third[:1] + fourth[-3:]]
    assert [d for d in got if d] == ["3", "4"]
    assert receiver.flush() is None


async def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def _recv(sock: socket.socket) -> tuple[bytes, tuple]:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.sock_recvfrom(sock, 2048), 2.0)


async def test_endpoint_learns_remote_and_replies_from_its_own_port():
    """Symmetric RTP: the first valid packet's source becomes the remote; replies come from our port."""
    heard: list[bytes] = []
    got = asyncio.Event()

    def on_audio(payload: bytes, packet: RtpPacket) -> None:
        heard.append(payload)
        got.set()

    endpoint = await RtpEndpoint.open("127.0.0.1", advertise_host="198.51.100.7", on_audio=on_audio)
    try:
        assert endpoint.advertised_address == ("198.51.100.7", endpoint.local_address[1])
        assert endpoint.send_audio(b"\xff" * 160) is False and endpoint.stats.unsent == 1
        phone = await _udp_socket()
        phone_sender = RtpSender(PT_PCMU)
        phone.sendto(phone_sender.audio(b"\x01" * 160), endpoint.local_address)
        await asyncio.wait_for(got.wait(), 2)
        assert heard == [b"\x01" * 160]
        assert endpoint.remote == phone.getsockname()
        assert endpoint.send_audio(b"\x02" * 160)
        data, source = await _recv(phone)
        assert source == endpoint.local_address
        assert parse_rtp(data).payload == b"\x02" * 160 and parse_rtp(data).marker
        phone.close()
    finally:
        endpoint.close()


async def test_endpoint_survives_garbage_and_foreign_sources():
    """Thrown at it: junk datagrams, a truncated header, RTP from a second address, an unknown PT and
    a callback that raises (twice). Survives: counters go up, the real stream keeps flowing both ways,
    and the owner is told of the failing callback once (it ends that call as failed)."""
    heard: list[bytes] = []
    digits: list[str] = []
    faults: list[Exception] = []
    got = asyncio.Event()

    def on_audio(payload: bytes, packet: RtpPacket) -> None:
        if payload == b"boom":
            raise RuntimeError("consumer bug")
        heard.append(payload)
        got.set()

    phone = await _udp_socket()
    intruder = await _udp_socket()
    endpoint = await RtpEndpoint.open(
        "127.0.0.1",
        remote=phone.getsockname(),
        on_audio=on_audio,
        on_dtmf=digits.append,
        on_fault=faults.append,
    )
    try:
        sender = RtpSender(PT_PCMU)
        phone.sendto(b"hello, not rtp", endpoint.local_address)
        phone.sendto(b"\x80\x00", endpoint.local_address)
        intruder.sendto(RtpSender(PT_PCMU).audio(b"\x09" * 160), endpoint.local_address)
        phone.sendto(build_rtp(RtpPacket(96, 1, 1, 1, b"x")), endpoint.local_address)
        phone.sendto(sender.audio(b"boom"), endpoint.local_address)
        phone.sendto(sender.audio(b"boom"), endpoint.local_address)
        for data in sender.dtmf("5", duration_ms=60):
            phone.sendto(data, endpoint.local_address)
        phone.sendto(sender.audio(b"\x03" * 160), endpoint.local_address)
        await asyncio.wait_for(got.wait(), 2)
        assert heard == [b"\x03" * 160]
        assert digits == ["5"]
        stats = endpoint.stats
        assert (stats.malformed, stats.foreign, stats.unknown_pt, stats.callback_errors) == (2, 1, 1, 2)
        assert [type(f) for f in faults] == [RuntimeError]
        assert endpoint.send_audio(b"\x04" * 160)
        data, _ = await _recv(phone)
        assert parse_rtp(data).payload == b"\x04" * 160
    finally:
        endpoint.close()
        phone.close()
        intruder.close()


async def test_endpoint_latch_follows_nat_once():
    """latch=True: the first valid packet's source replaces the signalled address, then locks."""
    phone = await _udp_socket()
    other = await _udp_socket()
    got = asyncio.Event()
    endpoint = await RtpEndpoint.open(
        "127.0.0.1", remote=("127.0.0.1", 9), latch=True, on_audio=lambda p, pk: got.set()
    )
    try:
        phone.sendto(RtpSender(PT_PCMA).audio(b"\xd5" * 160), endpoint.local_address)
        await asyncio.wait_for(got.wait(), 2)
        assert endpoint.remote == phone.getsockname()
        other.sendto(RtpSender(PT_PCMA).audio(b"\xd5" * 160), endpoint.local_address)
        endpoint.send_audio(b"\xd5" * 160)
        await _recv(phone)
        assert endpoint.stats.foreign == 1 and endpoint.remote == phone.getsockname()
    finally:
        endpoint.close()
        phone.close()
        other.close()


async def test_endpoint_port_range_and_dtmf_sending():
    endpoint = await RtpEndpoint.open("127.0.0.1", ports=(40000, 40100))
    phone = await _udp_socket()
    try:
        port = endpoint.local_address[1]
        assert 40000 <= port <= 40100 and port % 2 == 0
        endpoint.remote = phone.getsockname()
        await endpoint.send_dtmf("#", duration_ms=60)
        receiver = DtmfReceiver()
        digits = []
        for _ in range(5):
            data, _ = await _recv(phone)
            digit = receiver.feed(parse_rtp(data))
            if digit:
                digits.append(digit)
        assert digits == ["#"]
        assert struct.unpack("!B", data[1:2])[0] & 0x7F == PT_TELEPHONE_EVENT
    finally:
        endpoint.close()
        phone.close()


async def test_endpoint_caps_a_flood_and_recovers():
    """Thrown at it: 2,000 packets at once from the signalled peer (40 s of audio in a blink) and one
    oversized datagram. Survives: at most the burst allowance is handled, the rest is dropped before
    parsing and counted; a second later the stream flows again."""
    heard: list[bytes] = []
    phone = await _udp_socket()
    endpoint = await RtpEndpoint.open(
        "127.0.0.1", remote=phone.getsockname(), on_audio=lambda payload, packet: heard.append(payload)
    )
    try:
        sender = RtpSender(PT_PCMU)
        phone.sendto(sender.audio(b"\x01" * 3000), endpoint.local_address)  # oversized
        for _ in range(20):  # in runs of 100, so the kernel's socket buffer does not drop them first
            for _ in range(100):
                phone.sendto(sender.audio(b"\x01" * 160), endpoint.local_address)
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)
        assert endpoint.stats.received + endpoint.stats.dropped >= 1800  # what reached the socket
        assert endpoint.stats.dropped >= 1400
        assert len(heard) <= 250 + 60  # the burst, plus what the rate refilled meanwhile
        await asyncio.sleep(1.0)
        before = len(heard)
        phone.sendto(sender.audio(b"\x02" * 160), endpoint.local_address)
        await asyncio.sleep(0.2)
        assert heard[before:] == [b"\x02" * 160]
    finally:
        endpoint.close()
        phone.close()
