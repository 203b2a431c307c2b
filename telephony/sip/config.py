"""The SIP trunk's settings in one object, read from Django settings (see `docs/sip.md`)."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from django.conf import settings


@dataclass
class SipConfig:
    bind_host: str = "0.0.0.0"
    port: int = 5060
    # The address put in Contact and SDP: the public IP behind NAT. Empty: the local address that
    # faces each caller (right on a LAN, wrong behind NAT).
    advertise_host: str = ""
    rtp_ports: tuple[int, int] = (10000, 20000)
    auth_username: str = ""
    auth_password: str = ""
    realm: str = "contactcenter"
    unknown_number: str = "404"  # "404" or "apology"
    answer_delay: float = 0.0  # seconds of 180 Ringing before the 200 OK
    user_agent: str = "contactcenter-sip"
    # Host (and port) for numbers in a REFER's Refer-To; empty: the trunk's, from the dialog.
    transfer_domain: str = ""
    # RFC 3261 T1 (the round-trip estimate) in seconds; retransmission and transaction timers scale
    # with it. 0.5 is the RFC's default; a smaller value is for tests and known-fast private links.
    t1: float = 0.5
    # Digest credentials for INVITEs we send (a warm transfer's call to the person).
    outbound_username: str = ""
    outbound_password: str = ""

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_username and self.auth_password)

    @classmethod
    def from_settings(cls) -> SipConfig:
        low, _, high = str(getattr(settings, "SIP_RTP_PORT_RANGE", "10000-20000")).partition("-")
        unknown = str(getattr(settings, "SIP_UNKNOWN_NUMBER", "404")).strip().lower()
        if unknown not in ("404", "apology"):
            raise ValueError(f'SIP_UNKNOWN_NUMBER must be "404" or "apology", not {unknown!r}')
        return cls(
            bind_host=getattr(settings, "SIP_BIND_HOST", "0.0.0.0"),
            port=int(getattr(settings, "SIP_PORT", 5060)),
            advertise_host=getattr(settings, "SIP_ADVERTISE_HOST", ""),
            rtp_ports=(int(low), int(high or low)),
            auth_username=getattr(settings, "SIP_AUTH_USERNAME", ""),
            auth_password=getattr(settings, "SIP_AUTH_PASSWORD", ""),
            realm=getattr(settings, "SIP_REALM", "") or "contactcenter",
            unknown_number=unknown,
            answer_delay=int(getattr(settings, "SIP_ANSWER_DELAY_MS", 0)) / 1000,
            transfer_domain=(
                getattr(settings, "SIP_TRANSFER_DOMAIN", "") or os.environ.get("SIP_TRANSFER_DOMAIN", "")
            ).strip(),
            t1=int(getattr(settings, "SIP_T1_MS", 500)) / 1000,
            outbound_username=getattr(settings, "SIP_OUTBOUND_USERNAME", ""),
            outbound_password=getattr(settings, "SIP_OUTBOUND_PASSWORD", ""),
        )

    def media_host_for(self, remote_host: str) -> str:
        """The address a caller at `remote_host` should send RTP and in-dialog requests to."""
        if self.advertise_host:
            return self.advertise_host
        if self.bind_host not in ("0.0.0.0", "::", ""):
            return self.bind_host
        return local_address_towards(remote_host)


def local_address_towards(remote_host: str) -> str:
    """The local IP the kernel would use to reach `remote_host` (no packet is sent)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(remote_host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((remote_host, 9))
            return sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"
