"""Whether `runsip` can have its ports: the SIP port (UDP and TCP) and the RTP range, bound and released."""

from __future__ import annotations

import secrets
import socket

from django.conf import settings

from agents.models import Carrier, PhoneNumber

from . import ERROR, OK, WARNING, Finding

PROBE_SECONDS = 1.0
RTP_TAKEN_WARNING = 0.1  # a few ports held by other programs are normal; a tenth of the range is not


def sip_configured() -> bool:
    """SIP is in use: its settings are filled in, or a number answers over SIP."""
    if settings.SIP_ADVERTISE_HOST or settings.SIP_AUTH_USERNAME:
        return True
    numbers = PhoneNumber.objects.filter(is_active=True)
    return numbers.filter(carrier=Carrier.SIP).exists() or numbers.filter(twilio_media="sip").exists()


def taken(host: str, port: int, kind: int) -> bool:
    """Whether binding `host:port` fails because someone holds it (bound and released at once)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runsip's listener does
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def answers_as_runsip(host: str, port: int, user_agent: str) -> bool:
    """Whether the program on the SIP port is our own `runsip` (it answers OPTIONS naming itself)."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    branch, tag = "z9hG4bK" + secrets.token_hex(6), secrets.token_hex(4)
    request = (
        f"OPTIONS sip:doctor@{target}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {target}:9;branch={branch}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:doctor@{target}>;tag={tag}\r\nTo: <sip:doctor@{target}:{port}>\r\n"
        f"Call-ID: doctor-{secrets.token_hex(8)}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET6 if ":" in target else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(PROBE_SECONDS)
        try:
            sock.sendto(request.encode(), (target, port))
            reply = sock.recv(4096).decode(errors="replace")
        except OSError:
            return False
    return reply.startswith("SIP/2.0 200") and user_agent in reply


def sip_ports() -> Finding | list[Finding]:
    if not sip_configured():
        return Finding(OK, "sip: not configured (no SIP number, SIP_ADVERTISE_HOST unset), skipped")
    from telephony.sip.config import SipConfig

    config = SipConfig.from_settings()
    host, port = config.bind_host, config.port
    held = [
        name
        for name, kind in (("udp", socket.SOCK_DGRAM), ("tcp", socket.SOCK_STREAM))
        if taken(host, port, kind)
    ]
    if not held:
        sip = Finding(OK, f"sip: port {host}:{port} (udp, tcp) is free for runsip")
    elif answers_as_runsip(host, port, config.user_agent):
        sip = Finding(OK, f"sip: runsip is already listening on {host}:{port}")
    else:
        sip = Finding(
            ERROR,
            f"sip: port {host}:{port}/{'+'.join(held)} is taken by another program: stop it, or set SIP_PORT "
            "(and point the trunk at the new port)",
        )
    return [sip, rtp_range(host, config.rtp_ports)]


def rtp_range(host: str, ports: tuple[int, int]) -> Finding:
    """Bind every even port of the range (one per call), as runsip would."""
    low, high = ports
    candidates = range(low + low % 2, high + 1, 2)
    busy = [port for port in candidates if taken(host, port, socket.SOCK_DGRAM)]
    span = f"SIP_RTP_PORT_RANGE {low}-{high}"
    if not busy:
        return Finding(OK, f"sip: {span}: all {len(candidates)} RTP ports free")
    shown = ", ".join(map(str, busy[:5])) + (" …" if len(busy) > 5 else "")
    if len(busy) == len(candidates):
        return Finding(ERROR, f"sip: {span}: every RTP port is taken ({shown}): choose a free range")
    summary = f"sip: {span}: {len(busy)} of {len(candidates)} RTP ports taken ({shown})"
    if len(busy) < len(candidates) * RTP_TAKEN_WARNING:
        return Finding(OK, f"{summary}, {len(candidates) - len(busy)} free")
    return Finding(
        WARNING,
        f"{summary}, by runsip's calls or another program: calls beyond the free ports are refused; "
        "widen the range or free it",
    )
