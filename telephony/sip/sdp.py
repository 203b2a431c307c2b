"""SDP offer/answer for one audio stream (RFC 4566, RFC 3264): G.711 and telephone-event.

We take the first offered of PCMU and PCMA (matched by payload number 0/8 or by rtpmap name, since
some gateways use dynamic numbers), echo the offerer's telephone-event payload type so RFC 4733
DTMF works, and answer every other m-line with port 0 in the same order, as RFC 3264 requires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

SUPPORTED = {"PCMU": "ulaw", "PCMA": "alaw"}
STATIC_NAMES = {0: "PCMU", 8: "PCMA"}
DIRECTIONS = {"sendrecv", "sendonly", "recvonly", "inactive"}
_COMPLEMENT = {"sendonly": "recvonly", "recvonly": "sendonly", "sendrecv": "sendrecv", "inactive": "inactive"}


class SdpError(ValueError):
    """An SDP body we cannot read (-> 400) ."""


class NoCommonCodec(ValueError):
    """A well-formed offer with nothing we can do (-> 488)."""


@dataclass
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str = ""
    attributes: list[tuple[str, str]] = field(default_factory=list)

    def rtpmap(self) -> dict[int, tuple[str, int]]:
        """payload type -> (encoding name upper-cased, clock rate)."""
        result: dict[int, tuple[str, int]] = {}
        for name, value in self.attributes:
            if name != "rtpmap":
                continue
            pt_text, _, encoding = value.partition(" ")
            parts = encoding.strip().split("/")
            try:
                result[int(pt_text)] = (parts[0].upper(), int(parts[1]) if len(parts) > 1 else 8000)
            except ValueError as exc:
                raise SdpError(f"bad rtpmap {value!r}") from exc
        return result

    @property
    def direction(self) -> str:
        for name, _ in self.attributes:
            if name in DIRECTIONS:
                return name
        return ""


@dataclass
class SessionDescription:
    origin: str = ""
    connection: str = ""  # session-level c= address
    direction: str = ""
    media: list[MediaDescription] = field(default_factory=list)


def parse_sdp(body: bytes) -> SessionDescription:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("SDP is not UTF-8") from exc
    sdp = SessionDescription()
    current: MediaDescription | None = None
    seen_version = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"malformed SDP line {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "v":
            seen_version = value.strip() == "0"
        elif kind == "o":
            sdp.origin = value
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
                raise SdpError(f"bad c= line {value!r}")
            address = parts[2].split("/")[0]
            if current is None:
                sdp.connection = address
            else:
                current.connection = address
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                raise SdpError(f"bad m= line {value!r}")
            current = MediaDescription(parts[0], int(parts[1].split("/")[0]), parts[2], parts[3:])
            if current.port > 65535:
                raise SdpError(f"bad port in m= line {value!r}")
            sdp.media.append(current)
        elif kind == "a":
            name, _, attr_value = value.partition(":")
            if current is None:
                if name in DIRECTIONS:
                    sdp.direction = name
            else:
                current.attributes.append((name, attr_value))
    if not seen_version:
        raise SdpError("SDP does not start with v=0")
    if not sdp.media:
        raise SdpError("SDP has no m= line")
    return sdp


@dataclass
class Negotiated:
    """The outcome of an offer: what we send and receive, and where."""

    encoding: str  # "ulaw" or "alaw"
    payload_type: int
    telephone_event_pt: int | None
    remote_host: str
    remote_port: int
    direction: str  # our direction: sendrecv, sendonly, recvonly, inactive
    media_index: int
    offer: SessionDescription

    @property
    def on_hold(self) -> bool:
        return (
            self.remote_port == 0
            or self.remote_host in ("0.0.0.0", "::")
            or self.direction
            in (
                "inactive",
                "recvonly",
            )
        )


def negotiate(offer: SessionDescription) -> Negotiated:
    """Pick the audio stream and codec; NoCommonCodec when none fits."""
    reasons = []
    for index, media in enumerate(offer.media):
        if media.media != "audio" or media.port == 0:
            continue
        if media.proto.upper() not in ("RTP/AVP", "RTP/AVPF"):
            reasons.append(f"{media.proto} is not supported (no SRTP)")
            continue
        rtpmap = media.rtpmap()
        chosen: tuple[int, str] | None = None
        events: int | None = None
        for fmt in media.formats:
            if not fmt.isdigit():
                continue
            pt = int(fmt)
            name, rate = rtpmap.get(pt, (STATIC_NAMES.get(pt, ""), 8000))
            if chosen is None and name in SUPPORTED and rate == 8000:
                chosen = (pt, SUPPORTED[name])
            if events is None and name == "TELEPHONE-EVENT" and rate == 8000:
                events = pt
        if chosen is None:
            reasons.append("no PCMU or PCMA offered")
            continue
        host = media.connection or offer.connection
        if not host:
            raise SdpError("no c= connection address")
        remote_dir = media.direction or offer.direction or "sendrecv"
        return Negotiated(
            encoding=chosen[1],
            payload_type=chosen[0],
            telephone_event_pt=events,
            remote_host=host,
            remote_port=media.port,
            direction=_COMPLEMENT[remote_dir],
            media_index=index,
            offer=offer,
        )
    raise NoCommonCodec("; ".join(reasons) or "no audio stream offered")


def _ip_version(host: str) -> str:
    return "IP6" if ":" in host else "IP4"


def build_answer(negotiated: Negotiated, host: str, port: int, session_id: int, version: int = 1) -> bytes:
    """The SDP answer: our address, the chosen codec, telephone-event if offered, other m-lines off."""
    lines = [
        "v=0",
        f"o=- {session_id} {version} IN {_ip_version(host)} {host}",
        "s=contactcenter",
        f"c=IN {_ip_version(host)} {host}",
        "t=0 0",
    ]
    for index, media in enumerate(negotiated.offer.media):
        if index != negotiated.media_index:
            lines.append(f"m={media.media} 0 {media.proto} {' '.join(media.formats)}")
            continue
        formats = [str(negotiated.payload_type)]
        if negotiated.telephone_event_pt is not None:
            formats.append(str(negotiated.telephone_event_pt))
        lines.append(f"m=audio {port} RTP/AVP {' '.join(formats)}")
        name = "PCMU" if negotiated.encoding == "ulaw" else "PCMA"
        lines.append(f"a=rtpmap:{negotiated.payload_type} {name}/8000")
        if negotiated.telephone_event_pt is not None:
            lines.append(f"a=rtpmap:{negotiated.telephone_event_pt} telephone-event/8000")
            lines.append(f"a=fmtp:{negotiated.telephone_event_pt} 0-16")
        lines.append("a=ptime:20")
        lines.append(f"a={negotiated.direction}")
    return ("\r\n".join(lines) + "\r\n").encode()


def build_offer(host: str, port: int, session_id: int, version: int = 1) -> bytes:
    """Our offer, for an INVITE that came without one (delayed offer): PCMU, PCMA, events."""
    ip = _ip_version(host)
    lines = [
        "v=0",
        f"o=- {session_id} {version} IN {ip} {host}",
        "s=contactcenter",
        f"c=IN {ip} {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def new_session_id() -> int:
    return int(time.time() * 1000) & 0x7FFFFFFFFFFF
