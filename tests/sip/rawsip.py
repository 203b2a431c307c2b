"""A few lines of raw SIP over UDP/TCP, for what sipp cannot send: broken messages, exact retransmissions."""

from __future__ import annotations

import secrets
import socket
import time

SDP_PCMU = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


class RawUdp:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def send(self, data: str | bytes, addr: tuple[str, int]) -> None:
        self.sock.sendto(data.encode() if isinstance(data, str) else data, addr)

    def recv(self, timeout: float = 5.0) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        return data.decode(errors="replace")

    def recv_until(self, predicate, timeout: float = 10.0) -> list[str]:
        """Every message until one matches `predicate` (included); raises if none does in time."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.recv(max(0.05, deadline - time.monotonic()))
            if message is None:
                break
            seen.append(message)
            if predicate(message):
                return seen
        raise AssertionError("no matching message; got:\n" + "\n---\n".join(seen))

    def close(self) -> None:
        self.sock.close()


def status_of(message: str) -> int:
    first = message.split("\r\n", 1)[0]
    return int(first.split(" ")[1]) if first.startswith("SIP/2.0 ") else 0


def header(message: str, name: str) -> str:
    for line in message.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


def invite(
    to_user: str,
    server: tuple[str, int],
    local_port: int,
    rtp_port: int = 40000,
    call_id: str | None = None,
    branch: str | None = None,
    body: str | None = None,
    extra: str = "",
    cseq: str = "1 INVITE",
) -> tuple[str, str, str]:
    """An INVITE as text, with its Call-ID and branch."""
    call_id = call_id or secrets.token_hex(8) + "@127.0.0.1"
    branch = branch or "z9hG4bK" + secrets.token_hex(8)
    body = SDP_PCMU.format(port=rtp_port) if body is None else body
    text = (
        f"INVITE sip:{to_user}@{server[0]}:{server[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch={branch};rport\r\n"
        f"From: <sip:caller@127.0.0.1:{local_port}>;tag=raw{secrets.token_hex(3)}\r\n"
        f"To: <sip:{to_user}@{server[0]}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq}\r\n"
        f"Contact: <sip:caller@127.0.0.1:{local_port}>\r\n"
        f"Max-Forwards: 70\r\n{extra}"
        f"Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    )
    return text, call_id, branch


def ack_for(invite_text: str, response: str, branch: str | None = None) -> str:
    """ACK for a final response: same branch for non-2xx, a new one for 2xx (RFC 3261 §17.1.1.3)."""
    lines = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(":") for line in invite_text.split("\r\n")[1:])
    }
    uri = invite_text.split(" ")[1]
    via = lines["via"]
    if branch:
        via = via.split(";branch=")[0] + f";branch={branch};rport"
    cseq = lines["cseq"].split()[0]
    return (
        f"ACK {uri} SIP/2.0\r\nVia: {via}\r\nFrom: {lines['from']}\r\nTo: {header(response, 'To')}\r\n"
        f"Call-ID: {lines['call-id']}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
