"""The emulators' own wire code and the product's, each against reference bytes and against each other.

The emulators (emulators/wire, emulators/asterisk/facts.py) are written from the references apart
from the product (engine.codec, telephony.rtp, telephony.asterisk.audiosocket/versions), so a bug
in either shows up here as a disagreement instead of passing on both sides of an emulated call.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
import warnings

import numpy as np
import pytest

from emulators.asterisk import facts
from emulators.wire import audiosocket as emu_as
from emulators.wire import g711, rtp
from engine import codec
from telephony import rtp as product_rtp
from telephony.asterisk import audiosocket as product_as
from telephony.asterisk import versions

EVERY_SAMPLE = np.arange(-32768, 32768, dtype="<i2").tobytes()
EVERY_CODE = bytes(range(256))


def samples(pcm: bytes) -> list[int]:
    return np.frombuffer(pcm, dtype="<i2").tolist()


# --- G.711 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "value"),
    [
        (0xFF, 0),
        (0x7F, 0),
        (0x00, -32124),
        (0x80, 32124),
        (0xFE, 8),
        (0x7E, -8),
        (0xEF, 132),
        (0x70, -120),
        (0x0F, -16764),
    ],
)
def test_ulaw_code_points(code, value):
    assert samples(g711.decode_ulaw(bytes([code]))) == [value]
    assert samples(codec.ulaw_to_pcm(bytes([code]))) == [value]


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24), (0xC5, 264), (0x45, -264)],
)
def test_alaw_code_points(code, value):
    assert samples(g711.decode_alaw(bytes([code]))) == [value]
    assert samples(codec.alaw_to_pcm(bytes([code]))) == [value]


def test_encoding_known_samples():
    pcm = np.array([0, -1, 32767, -32768, 8, -8, 132], dtype="<i2").tobytes()
    # -1 -> 0x7E (-8): the arithmetic-shift convention of g711.c and audioop (G.191 would give 0x7F)
    assert list(g711.encode_ulaw(pcm)) == [0xFF, 0x7E, 0x80, 0x00, 0xFE, 0x7E, 0xEF]
    assert list(g711.encode_alaw(pcm)) == [0xD5, 0x55, 0xAA, 0x2A, 0xD5, 0x55, 0xDD]


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_every_16_bit_sample_and_every_code_agree_with_the_product_codec(law):
    """The point of two implementations: on all 65,536 inputs and all 256 codes they must agree."""
    product_encode = {"ulaw": codec.pcm_to_ulaw, "alaw": codec.pcm_to_alaw}[law]
    product_decode = {"ulaw": codec.ulaw_to_pcm, "alaw": codec.alaw_to_pcm}[law]
    ours = g711.ENCODE[law](EVERY_SAMPLE)
    theirs = product_encode(EVERY_SAMPLE)
    differ = np.flatnonzero(np.frombuffer(ours, np.uint8) != np.frombuffer(theirs, np.uint8))
    assert differ.size == 0, f"{differ.size} samples differ, first at {differ[0] - 32768}"
    assert g711.DECODE[law](EVERY_CODE) == product_decode(EVERY_CODE)
    # A code decodes to a value that encodes back to the same level (a full round trip).
    levels = g711.DECODE[law](EVERY_CODE)
    assert g711.DECODE[law](g711.ENCODE[law](levels)) == levels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    assert ours == {"ulaw": audioop.lin2ulaw, "alaw": audioop.lin2alaw}[law](EVERY_SAMPLE, 2)


def test_codec_is_monotonic_over_every_sample():
    """Louder input never decodes quieter: each law's output is a staircase over all inputs."""
    for law in ("ulaw", "alaw"):
        decoded = np.frombuffer(g711.DECODE[law](g711.ENCODE[law](EVERY_SAMPLE)), dtype="<i2")
        assert np.all(np.diff(decoded.astype(np.int32)) >= 0), law
        error = np.abs(decoded.astype(np.int32) - np.arange(-32768, 32768))
        assert error.max() <= 1024, law  # half the widest step (segment 7)


# --- RTP (RFC 3550 §5.1) -------------------------------------------------------------------------------
def reference_packet() -> bytes:
    """asterisk.md §3d: the first ulaw packet of a stream is `80 80 <seq:2> <ts:4> <ssrc:4>` + 160 B."""
    return bytes.fromhex("808012340001e240deadbeef") + bytes(range(160))


def test_hand_built_rtp_packet_parses_the_same_on_both_sides():
    data = reference_packet()
    ours, theirs = rtp.unpack(data), product_rtp.parse_rtp(data)
    expected = (0, 0x1234, 123456, 0xDEADBEEF, True, bytes(range(160)))
    assert (
        ours.payload_type,
        ours.sequence,
        ours.timestamp,
        ours.ssrc,
        ours.marker,
        ours.payload,
    ) == expected
    assert (
        theirs.payload_type,
        theirs.sequence,
        theirs.timestamp,
        theirs.ssrc,
        theirs.marker,
        theirs.payload,
    ) == expected


def test_rtp_with_csrcs_extension_and_padding():
    """V=2 P=1 X=1 CC=2, PT 8: two CSRCs, a one-word extension, 4 bytes of padding."""
    data = (
        bytes.fromhex("b20800010000001000000020")
        + bytes.fromhex("0000000100000002")
        + bytes.fromhex("bede000111223344")
        + b"\xd5" * 160
        + bytes.fromhex("00000004")
    )
    ours, theirs = rtp.unpack(data), product_rtp.parse_rtp(data)
    assert ours.payload == theirs.payload == b"\xd5" * 160
    assert ours.csrcs == theirs.csrcs == (1, 2)
    assert ours.payload_type == theirs.payload_type == 8 and not ours.marker


@pytest.mark.parametrize(
    "bad", [b"\x80\x00", bytes.fromhex("4000000100000001000000010000"), b"\xa0" + bytes(11)]
)
def test_malformed_rtp_is_refused_on_both_sides(bad):
    with pytest.raises(rtp.BadPacket):
        rtp.unpack(bad)
    with pytest.raises(product_rtp.RtpError):
        product_rtp.parse_rtp(bad)


def test_streams_built_on_each_side_parse_on_the_other():
    ours = rtp.Stream(0)
    first, second = ours.audio(b"\xff" * 160, 160), ours.audio(b"\xff" * 160, 160)
    assert first[:2] == b"\x80\x80" and second[:2] == b"\x80\x00"  # marker on the first only (§3d)
    a, b = product_rtp.parse_rtp(first), product_rtp.parse_rtp(second)
    assert (b.sequence - a.sequence) & 0xFFFF == 1 and b.timestamp - a.timestamp == 160
    assert a.ssrc == b.ssrc == ours.ssrc

    theirs = product_rtp.RtpSender(8)
    packet = rtp.unpack(theirs.audio(b"\xd5" * 160))
    assert (packet.payload_type, packet.marker, packet.payload) == (8, True, b"\xd5" * 160)
    slin = rtp.Stream(118, clock_rate=16000)
    assert slin.audio(bytes(640), 320)[:2] == b"\x80\xf6"  # slin16: PT 118 with the marker (§3d: 80 76)


def test_rfc4733_digit_from_the_emulator_is_one_digit_for_the_product():
    packets = rtp.Stream(0).dtmf("5", 100)
    events = [product_rtp.parse_dtmf(product_rtp.parse_rtp(p).payload) for p in packets]
    assert {e.event for e in events} == {5} and [e.end for e in events[-3:]] == [True] * 3
    assert events[-1].duration == 800 and product_rtp.parse_rtp(packets[0]).marker
    receiver = product_rtp.DtmfReceiver()
    digits = [d for p in packets if (d := receiver.feed(product_rtp.parse_rtp(p))) is not None]
    assert digits == ["5"]


# --- AudioSocket (asterisk.md §3b, §3d) -----------------------------------------------------------------
CALL = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")
REFERENCE_FRAMES = [
    (emu_as.UUID, CALL.bytes, bytes.fromhex("010010") + CALL.bytes),
    (0x10, bytes(320), bytes.fromhex("100140") + bytes(320)),
    (0x12, bytes(640), bytes.fromhex("120280") + bytes(640)),
    (emu_as.DTMF, b"5", bytes.fromhex("03000135")),
    (emu_as.HANGUP, b"", bytes.fromhex("000000")),
]


@pytest.mark.parametrize(("kind", "payload", "wire"), REFERENCE_FRAMES)
def test_audiosocket_frames_match_the_reference_bytes_on_both_sides(kind, payload, wire):
    assert emu_as.frame(kind, payload) == wire
    assert product_as.encode(kind, payload) == wire
    assert emu_as.split(wire + b"\x10") == (kind, payload, b"\x10")

    async def read_both() -> tuple:
        readers = [asyncio.StreamReader(), asyncio.StreamReader()]
        for reader in readers:
            reader.feed_data(wire)
            reader.feed_eof()
        return await emu_as.read(readers[0]), await product_as.read_message(readers[1])

    ours, theirs = asyncio.run(read_both())
    assert ours == theirs == (kind, payload)


def test_audiosocket_kinds_per_rate_agree():
    assert emu_as.AUDIO_RATES == product_as.AUDIO_KINDS
    assert emu_as.KIND_FOR_RATE[16000] == product_as.audio_kind(16000, per_rate_kinds=True) == 0x12
    assert struct.unpack("!BH", emu_as.frame(0x16, bytes(1920))[:3]) == (0x16, 1920)
    with pytest.raises(ValueError):
        emu_as.frame(0x10, bytes(0x10000))


# --- Asterisk versions (asterisk.md §0.3, §0.8, §1, §3b, §3c) ---------------------------------------------
RELEASES = (
    "18.21.0 20.6.0 20.14.0 20.16.0 20.17.0 20.19.1 20.20.1 21.9.0 21.12.0 22.4.0 22.5.0 22.6.0 22.7.0 "
    "22.8.0 22.10.1 23.0.0 23.1.0 23.4.1 24.0.0"
).split()


@pytest.mark.parametrize("feature", sorted(set(facts.FACTS) & set(versions.FEATURES)))
def test_version_facts_agree_with_the_product_table(feature):
    assert facts.FACTS[feature].source  # every fact says where it comes from
    for release in RELEASES:
        assert facts.has(release, feature) == versions.has(release, feature), (feature, release)


def test_version_facts_from_the_reference():
    assert not facts.has("22.5.0", "websocket_media") and facts.has("22.6.0", "websocket_media")  # §0.3
    assert not facts.has("21.20.0", "websocket_marks")  # no 21.x release has marks (§0.3)
    assert facts.has("22.7.0", "audiosocket_rate_kinds") and not facts.has("22.6.0", "audiosocket_rate_kinds")
    assert facts.has("22.9.0", "websocket_direction") and not facts.has("22.8.0", "websocket_direction")
    assert facts.release("22.6.0-rc1") == (22, 6)
