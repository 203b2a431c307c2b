"""SIP messages (RFC 3261 §7): a strict parser and a serializer.

Strict because a trunk that sends us garbage must get a clear `400` with the reason, not a call
that half-works: the parser checks the start line, header syntax, the mandatory headers, CSeq and
Content-Length, and says what was wrong. Header names are kept canonical (compact forms expanded)
and in order, since Via and Record-Route order matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"
MAX_MESSAGE_BYTES = 65_535

COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "u": "Allow-Events",
    "x": "Session-Expires",
}
_SPECIAL_CASE = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
}
# Headers whose value may be a comma-separated list of entries (RFC 3261 §7.3.1).
LIST_HEADERS = {"Via", "Contact", "Route", "Record-Route", "Allow", "Supported", "Require"}
MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_REQUEST_LINE = re.compile(rf"^({_TOKEN}) (\S+) SIP/2\.0$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6]\d\d) (.*)$")
_HEADER_NAME = re.compile(rf"^{_TOKEN}$")
_CSEQ = re.compile(rf"^(\d{{1,10}})\s+({_TOKEN})$")
_VIA = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+([^\s;]+)\s*(;.*)?$", re.S)


class SipParseError(ValueError):
    """A message we cannot accept; `reason` goes into the 400's reason phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def canonical_name(name: str) -> str:
    lower = name.lower()
    if lower in COMPACT:
        return COMPACT[lower]
    if lower in _SPECIAL_CASE:
        return _SPECIAL_CASE[lower]
    return "-".join(part.capitalize() for part in lower.split("-"))


def split_list(value: str) -> list[str]:
    """Split a header value at commas that are outside quotes and <angle brackets>."""
    parts, current, quoted, angle, escape = [], [], False, False, False
    for char in value:
        if escape:
            current.append(char)
            escape = False
            continue
        if char == "\\" and quoted:
            escape = True
        elif char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        elif char == "," and not quoted and not angle:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def parse_params(text: str) -> dict[str, str]:
    """`;a=1;b;c="x"` -> {"a": "1", "b": "", "c": "x"} (names lower-cased)."""
    params: dict[str, str] = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return params


@dataclass
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")


def parse_via(value: str) -> Via:
    match = _VIA.match(value.strip())
    if not match:
        raise SipParseError(f"malformed Via header: {value[:60]!r}")
    transport, sent_by, params = match.groups()
    host, port = split_hostport(sent_by)
    return Via(transport.upper(), host, port, parse_params(params or ""))


def split_hostport(text: str) -> tuple[str, int | None]:
    """`host`, `host:5060`, `[::1]:5060` -> (host, port or None)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise SipParseError(f"no host in {text!r}")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipParseError(f"bad port in {text!r}")
        return host, int(port_text)
    return host, None


@dataclass
class NameAddr:
    """A From/To/Contact/Route value: optional display name, URI, header parameters."""

    uri: str
    display: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return self.params.get("tag", "")


def parse_name_addr(value: str) -> NameAddr:
    value = value.strip()
    if "<" in value:
        before, _, rest = value.partition("<")
        uri, closed, after = rest.partition(">")
        if not closed or not uri.strip():
            raise SipParseError(f"unbalanced <> in {value[:60]!r}")
        return NameAddr(uri.strip(), before.strip().strip('"'), parse_params(after))
    # addr-spec without <>: parameters after the URI belong to the header (RFC 3261 §20.10)
    uri, _, params = value.partition(";")
    if not uri or ":" not in uri:
        raise SipParseError(f"no URI in {value[:60]!r}")
    return NameAddr(uri.strip(), "", parse_params(params))


@dataclass
class SipUri:
    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str]


def parse_uri(uri: str) -> SipUri:
    """`sip:user@host:port;params` (headers after ? are dropped)."""
    scheme, colon, rest = uri.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips", "tel"):
        raise SipParseError(f"unsupported URI {uri[:60]!r}")
    rest = rest.split("?", 1)[0]
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return SipUri(scheme, number, "", None, parse_params(params))
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        hostpart = rest
    hostport, _, params = hostpart.partition(";")
    user = userinfo.split(":", 1)[0]  # drop a password, never used
    host, port = split_hostport(hostport)
    return SipUri(scheme, user, host, port, parse_params(params))


@dataclass
class SipMessage:
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str, default: str = "") -> str:
        name = canonical_name(name)
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, list headers split into their entries."""
        name = canonical_name(name)
        values: list[str] = []
        for key, value in self.headers:
            if key == name:
                values.extend(split_list(value) if name in LIST_HEADERS else [value])
        return values

    def set(self, name: str, value: str) -> None:
        name = canonical_name(name)
        self.headers = [(k, v) for k, v in self.headers if k != name]
        self.headers.append((name, value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical_name(name), value))

    @property
    def call_id(self) -> str:
        return self.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        match = _CSEQ.match(self.get("CSeq").strip())
        if not match:
            raise SipParseError("malformed CSeq header")
        return int(match.group(1)), match.group(2)

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.get_all("Via")]

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self.get("From"))

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self.get("To"))

    def _head(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        lines = [self._head()]
        lines.extend(f"{k}: {v}" for k, v in self.headers if k != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class SipRequest(SipMessage):
    method: str = ""
    uri: str = ""

    def _head(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"


@dataclass
class SipResponse(SipMessage):
    status: int = 200
    reason: str = "OK"

    def _head(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """(head, rest) at the first blank line, or None if the head is not complete yet."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        index = data.find(sep)
        if index >= 0:
            return data[:index], data[index + len(sep) :]
    return None


def parse_headers(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The start line and the header list; folded lines are joined (RFC 3261 §7.3.1)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("message head is not UTF-8") from exc
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _HEADER_NAME.match(name):
            raise SipParseError(f"malformed header line {line[:40]!r}")
        headers.append((canonical_name(name), value.strip()))
    return start, headers


def parse_message(data: bytes, stream: bool = False) -> SipRequest | SipResponse:
    """Parse one complete message. `stream` (TCP): Content-Length is mandatory and exact."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError("message too large")
    parts = split_head(data)
    if parts is None:
        raise SipParseError("no blank line after the headers")
    head, rest = parts
    start, headers = parse_headers(head)
    message: SipRequest | SipResponse
    if match := _REQUEST_LINE.match(start):
        message = SipRequest(headers=headers, method=match.group(1), uri=match.group(2))
    elif match := _STATUS_LINE.match(start):
        message = SipResponse(headers=headers, status=int(match.group(1)), reason=match.group(2))
    else:
        raise SipParseError(f"malformed start line {start[:60]!r}")
    length_text = message.get("Content-Length")
    if length_text:
        if not length_text.isdigit():
            raise SipParseError(f"bad Content-Length {length_text[:20]!r}")
        length = int(length_text)
        if length > len(rest):
            raise SipParseError(f"Content-Length {length} but {len(rest)} body bytes")
        rest = rest[:length]  # UDP: extra bytes after the body are ignored (RFC 3261 §18.3)
    elif stream:
        raise SipParseError("missing Content-Length (mandatory over TCP)")
    message.body = rest
    validate(message)
    return message


def validate(message: SipRequest | SipResponse) -> None:
    for name in MANDATORY:
        if not message.get(name):
            raise SipParseError(f"missing {name} header")
    for via in message.get_all("Via"):
        parse_via(via)
    number, method = message.cseq
    if isinstance(message, SipRequest):
        if method != message.method and not (message.method == "ACK" and method == "INVITE"):
            raise SipParseError(f"CSeq method {method} does not match {message.method}")
        if number >= 2**31:
            raise SipParseError("CSeq number too large")
        parse_uri(message.uri)
        max_forwards = message.get("Max-Forwards")
        if max_forwards and not max_forwards.isdigit():
            raise SipParseError("bad Max-Forwards")
    message.from_  # noqa: B018 - parses and raises on a bad value
    message.to  # noqa: B018


def response_for(request: SipRequest, status: int, reason: str, to_tag: str = "") -> SipResponse:
    """A response that copies Via, From, To (adding our tag), Call-ID, CSeq and Record-Route."""
    headers: list[tuple[str, str]] = []
    for name, value in request.headers:
        if name in ("Via", "From", "Call-ID", "CSeq", "Record-Route"):
            headers.append((name, value))
        elif name == "To":
            if to_tag and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={to_tag}"
            headers.append((name, value))
    return SipResponse(headers=headers, status=status, reason=reason)


def request_head_fields(data: bytes) -> SipRequest | None:
    """Best effort: the headers of an unparseable request, enough to send it a 400.

    Returns None when not even the start line and a Via can be read: there is nowhere to send a
    response, so such a datagram is dropped (and logged).
    """
    parts = split_head(data)
    if parts is None:
        return None
    try:
        start, headers = parse_headers(parts[0])
    except SipParseError:
        # keep the well-formed lines only
        try:
            text = parts[0].decode("utf-8", "replace")
        except Exception:  # noqa: BLE001
            return None
        lines = text.replace("\r\n", "\n").split("\n")
        start = lines[0]
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon and _HEADER_NAME.match(name.strip()):
                headers.append((canonical_name(name.strip()), value.strip()))
    words = start.split(" ")
    if len(words) < 2 or words[0] == SIP_VERSION or not re.match(_TOKEN, words[0]):
        return None
    request = SipRequest(headers=headers, method=words[0], uri=words[1])
    try:
        vias = request.get_all("Via")
        if not vias:
            return None
        parse_via(vias[0])
    except SipParseError:
        return None
    return request
