"""A call we place (RFC 3261 UAC): the second leg of a warm transfer, to the person who takes over.

The caller's call is one we answered (`call.py`); this one we originate, so the roles flip: we send
the INVITE (with our SDP offer), retransmit it on UDP until a provisional or final response (timer
A, giving up at timer B), ACK a non-2xx final inside the transaction and a 2xx in the dialog, send
CANCEL when the ring time is up, and BYE at the end. The person's in-dialog requests (BYE, SIP INFO
digits, a re-INVITE) reach us through the server like the caller's do. UDP only: the leg is sent
from the server's UDP socket so responses come back to the port we listen on.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from typing import TYPE_CHECKING

from telephony.rtp import RtpEndpoint

from .digest import digest_response, parse_auth_params
from .message import SipParseError, SipRequest, SipResponse, parse_name_addr, parse_uri
from .sdp import (
    Negotiated,
    NoCommonCodec,
    SdpError,
    build_answer,
    build_offer,
    negotiate,
    new_session_id,
    parse_sdp,
)
from .transactions import T2, new_branch, new_tag

if TYPE_CHECKING:
    from .server import SipServer

log = logging.getLogger(__name__)

BUSY = {486, 600}
DECLINED = {603}
NO_ANSWER = {408, 480, 487}


class DialResult:
    """How the INVITE ended: `status` is "answered", "busy", "declined", "no-answer" or "failed"."""

    def __init__(self, status: str, code: int = 0, detail: str = "") -> None:
        self.status = status
        self.code = code
        self.detail = detail

    def __repr__(self) -> str:
        return f"DialResult({self.status!r}, {self.code}, {self.detail!r})"


class PersonLeg:
    """One outgoing call: its INVITE transaction, its dialog once answered, its own RTP socket."""

    def __init__(
        self,
        server: SipServer,
        uri: str,
        from_user: str,
        display: str = "",
        on_dtmf=None,
        on_audio=None,
    ) -> None:
        self.server = server
        self.config = server.config
        self.uri = uri
        target = parse_uri(uri)
        if target.scheme != "sip" or not target.host:
            raise SipParseError(f"cannot dial {uri!r}: only sip: addresses with a host")
        self.hop = (target.host, target.port or 5060)
        self.call_id = f"{new_tag()}{new_tag()}@contactcenter"
        self.local_tag = new_tag()
        self.remote_tag = ""
        self.branch = new_branch()
        self.local_cseq = 1
        self.invite_cseq = 1
        self.remote_cseq = 0
        self.media_host = ""
        self.from_user = from_user or "contactcenter"
        self.display = display.replace('"', "")
        self.local_party = ""
        self.to_header = f"<{uri}>"
        self.remote_target = uri
        self.route_set: list[str] = []
        self.flow = None
        self.rtp: RtpEndpoint | None = None
        self.negotiated: Negotiated | None = None
        self.session_id = new_session_id()
        self.sdp_version = 1
        self.state = "idle"  # idle -> calling -> ringing -> confirmed -> terminated
        self.provisional = asyncio.Event()
        self.final: asyncio.Future[SipResponse] | None = None
        self.cancel_answered = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self._ack: bytes = b""
        self._destination: tuple[str, int] = self.hop
        self._on_dtmf = on_dtmf
        self._on_audio = on_audio
        self._invite: SipRequest | None = None
        self._bye_sent = False
        self._cancelling = False  # a CANCEL is out: keep the transaction registered for its 487

    # -- what send_in_dialog and the server need ------------------------------------------------
    @property
    def key(self) -> tuple[str, str]:
        return (self.call_id, self.local_tag)

    @property
    def contact(self) -> str:
        host = f"[{self.media_host}]" if ":" in self.media_host else self.media_host
        return f"<sip:{host}:{self.server.port}>"

    @property
    def remote_party(self) -> str:
        return self.to_header

    def response(self, request: SipRequest, status: int, reason: str) -> SipResponse:
        from .message import response_for

        response = response_for(request, status, reason)
        response.add("Server", self.config.user_agent)
        return response

    # -- dialling --------------------------------------------------------------------------------
    async def open_media(self) -> None:
        # An outgoing call's responses come back to the UDP socket the server listens on.
        self.flow = self.server.udp.flow(await self._resolve(*self.hop))
        self._destination = self.flow.addr
        self.media_host = self.config.media_host_for(self._destination[0])
        self.rtp = await RtpEndpoint.open(
            bind_host=self.config.bind_host,
            ports=self.config.rtp_ports,
            advertise_host=self.media_host,
            latch=True,
            on_audio=self._audio,
            on_dtmf=self._dtmf,
            payload_types=frozenset({0, 8}),
        )
        host = f"[{self.media_host}]" if ":" in self.media_host else self.media_host
        display = f'"{self.display}" ' if self.display else ""
        self.local_party = f"{display}<sip:{self.from_user}@{host}>;tag={self.local_tag}"

    def _audio(self, payload: bytes, packet) -> None:
        if self._on_audio is not None:
            self._on_audio(payload, packet)

    def _dtmf(self, digit: str) -> None:
        log.info("sip: DTMF %s from the person on %s", digit, self.call_id)
        if self._on_dtmf is not None:
            self._on_dtmf(digit)

    def on_info_dtmf(self, digit: str) -> None:
        self._dtmf(digit)

    def _build_invite(self, authorization: tuple[str, str] | None = None) -> SipRequest:
        assert self.rtp is not None
        host = f"[{self.media_host}]" if ":" in self.media_host else self.media_host
        request = SipRequest(method="INVITE", uri=self.uri)
        request.add("Via", f"SIP/2.0/UDP {host}:{self.server.port};branch={self.branch};rport")
        request.add("Max-Forwards", "70")
        request.add("From", self.local_party)
        request.add("To", self.to_header)
        request.add("Call-ID", self.call_id)
        request.add("CSeq", f"{self.invite_cseq} INVITE")
        request.add("Contact", self.contact)
        request.add("Allow", self.server.ALLOW)
        request.add("User-Agent", self.config.user_agent)
        if authorization is not None:
            request.add(*authorization)
        request.add("Content-Type", "application/sdp")
        rtp_host, rtp_port = self.rtp.advertised_address
        request.body = build_offer(rtp_host, rtp_port, self.session_id)
        return request

    async def dial(self, ring_seconds: float) -> DialResult:
        """INVITE the person; answered (ACKed, RTP set up) or why not. CANCEL after `ring_seconds`."""
        if self.rtp is None:
            await self.open_media()
        self.server.legs[self.key] = self
        log.info("sip: dialling %s for a warm transfer (%s)", self.uri, self.call_id)
        deadline = asyncio.get_running_loop().time() + ring_seconds
        authorization = None
        while True:
            result = await self._invite_once(authorization, deadline, ring_seconds)
            if isinstance(result, DialResult):
                return result
            if result.status in (401, 407) and authorization is None:
                authorization = self._authorization(result)
                if authorization is not None:
                    continue  # once: a second challenge means the credentials are wrong
            return self._finished(result)

    def _authorization(self, challenge: SipResponse) -> tuple[str, str] | None:
        """(header, value) answering a 401/407 digest challenge with SIP_OUTBOUND_* credentials."""
        config = self.config
        if not (config.outbound_username and config.outbound_password):
            return None
        proxy = challenge.status == 407
        scheme, params = parse_auth_params(
            challenge.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        )
        algorithm = params.get("algorithm", "MD5").upper()
        if scheme != "digest" or algorithm not in ("MD5", "MD5-SESS", "SHA-256", "SHA-256-SESS"):
            return None
        qop = "auth" if "auth" in [q.strip() for q in params.get("qop", "").split(",")] else ""
        cnonce, nc = secrets.token_hex(8), "00000001"
        response = digest_response(
            algorithm=algorithm,
            username=config.outbound_username,
            realm=params.get("realm", ""),
            password=config.outbound_password,
            method="INVITE",
            uri=self.uri,
            nonce=params.get("nonce", ""),
            qop=qop,
            nc=nc,
            cnonce=cnonce,
        )
        value = (
            f'Digest username="{config.outbound_username}", realm="{params.get("realm", "")}", '
            f'nonce="{params.get("nonce", "")}", uri="{self.uri}", response="{response}", algorithm={algorithm}'
        )
        if qop:
            value += f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
        if "opaque" in params:
            value += f', opaque="{params["opaque"]}"'
        log.info("sip: answering the %s challenge of %s", challenge.status, self.uri)
        return ("Proxy-Authorization" if proxy else "Authorization", value)

    async def _invite_once(
        self, authorization: tuple[str, str] | None, deadline: float, ring_seconds: float
    ) -> SipResponse | DialResult:
        """One INVITE transaction: its final response, or the DialResult when it timed out."""
        if self._invite is not None:  # a new transaction for the INVITE with credentials
            self.server.client_transactions.pop(self.branch, None)
            self.branch = new_branch()
            self.invite_cseq += 1
            self.local_cseq = self.invite_cseq
            self.provisional.clear()
        self._invite = self._build_invite(authorization)
        self.final = asyncio.get_running_loop().create_future()
        self.server.client_transactions[self.branch] = self
        self.state = "calling"
        data = self._invite.to_bytes()
        loop = asyncio.get_running_loop()
        t1 = self.config.t1
        interval = t1
        timer_b = loop.time() + 64 * t1
        self._send(data)
        while not self.final.done():
            now = loop.time()
            if now >= deadline:
                self._cancelling = True
                try:
                    return await self._cancel(f"no answer within {ring_seconds:g} seconds")
                finally:
                    self._cancelling = False
            if not self.provisional.is_set() and now >= timer_b:
                self.state = "terminated"
                return DialResult("failed", 0, f"{self.uri} did not answer the INVITE (timer B)")
            wait = min(deadline - now, interval if not self.provisional.is_set() else deadline - now)
            try:
                await asyncio.wait_for(asyncio.shield(self.final), wait)
            except TimeoutError:
                if not self.provisional.is_set():
                    self._send(data)
                    interval = min(interval * 2, T2)
        return self.final.result()

    def _finished(self, response: SipResponse) -> DialResult:
        code = response.status
        if code < 300:
            return self._answered(response)
        self.state = "terminated"
        detail = f"{code} {response.reason}".strip()
        if code in BUSY:
            return DialResult("busy", code, detail)
        if code in DECLINED:
            return DialResult("declined", code, detail)
        if code in NO_ANSWER:
            return DialResult("no-answer", code, detail)
        if code in (401, 407):
            return DialResult(
                "failed",
                code,
                f"the call to the person needs a login ({detail}): set SIP_OUTBOUND_USERNAME and "
                "SIP_OUTBOUND_PASSWORD, or allow runsip's address without one",
            )
        return DialResult("failed", code, f"the call to the person failed ({detail})")

    def _answered(self, response: SipResponse) -> DialResult:
        self.remote_tag = response.to.tag
        self.to_header = response.get("To")
        contact = response.get_all("Contact")
        if contact:
            self.remote_target = parse_name_addr(contact[0]).uri
        self.route_set = list(reversed(response.get_all("Record-Route")))
        self.remote_cseq = 0
        self._destination = self._next_hop()
        self._send_ack()
        try:
            negotiated = negotiate(parse_sdp(response.body))
            if negotiated.payload_type not in (0, 8):
                raise NoCommonCodec(f"payload type {negotiated.payload_type} was not offered")
        except (SdpError, NoCommonCodec) as exc:
            self.state = "confirmed"
            self.hangup("unusable SDP answer")
            return DialResult("failed", 200, f"the person's phone answered with unusable SDP: {exc}")
        self.negotiated = negotiated
        assert self.rtp is not None
        self.rtp.use_codec(negotiated.payload_type, negotiated.telephone_event_pt or 101)
        self.rtp.remote = (negotiated.remote_host, negotiated.remote_port)
        self.state = "confirmed"
        log.info("sip: %s answered (%s, %s)", self.uri, self.call_id, negotiated.encoding)
        return DialResult("answered", 200)

    def _send_ack(self) -> None:
        """ACK for a 2xx: a new transaction to the remote target, through the route set."""
        host = f"[{self.media_host}]" if ":" in self.media_host else self.media_host
        ack = SipRequest(method="ACK", uri=self.remote_target)
        ack.add("Via", f"SIP/2.0/UDP {host}:{self.server.port};branch={new_branch()};rport")
        ack.add("Max-Forwards", "70")
        ack.add("From", self.local_party)
        ack.add("To", self.to_header)
        ack.add("Call-ID", self.call_id)
        ack.add("CSeq", f"{self.invite_cseq} ACK")
        for route in self.route_set:
            ack.add("Route", route)
        self._ack = ack.to_bytes()
        self._send(self._ack)

    def _send_error_ack(self, response: SipResponse) -> None:
        """ACK for a non-2xx final: part of the INVITE transaction (same branch, RFC 3261 §17.1.1.3)."""
        assert self._invite is not None
        ack = SipRequest(method="ACK", uri=self.uri)
        ack.add("Via", self._invite.get("Via"))
        ack.add("Max-Forwards", "70")
        ack.add("From", self.local_party)
        ack.add("To", response.get("To"))
        ack.add("Call-ID", self.call_id)
        ack.add("CSeq", f"{self.invite_cseq} ACK")
        self._send(ack.to_bytes())

    async def _cancel(self, why: str) -> DialResult:
        """CANCEL the ringing INVITE (only after a provisional, RFC 3261 §9.1), expect its 487."""
        assert self._invite is not None and self.final is not None
        if self.provisional.is_set():
            cancel = SipRequest(method="CANCEL", uri=self.uri)
            cancel.add("Via", self._invite.get("Via"))
            cancel.add("Max-Forwards", "70")
            cancel.add("From", self.local_party)
            cancel.add("To", self.to_header)
            cancel.add("Call-ID", self.call_id)
            cancel.add("CSeq", f"{self.invite_cseq} CANCEL")
            data = cancel.to_bytes()
            log.info("sip: cancelling %s (%s)", self.call_id, why)
            interval = self.config.t1
            for _ in range(7):
                self._send(data)
                try:
                    await asyncio.wait_for(asyncio.shield(self.final), interval)
                    break
                except TimeoutError:
                    if self.cancel_answered.is_set():
                        continue
                    interval = min(interval * 2, T2)
        if self.final.done() and self.final.result().status < 300:
            # The 200 crossed our CANCEL: the person answered after all. Hang up (too late to brief).
            self._answered(self.final.result())
            self.hangup("no answer in time")
        self.state = "terminated"
        return DialResult("no-answer", 0, why)

    # -- responses (by branch, from the server) --------------------------------------------------
    def response_received(self, response: SipResponse) -> None:
        try:
            method = response.cseq[1]
        except SipParseError:
            return
        if method == "CANCEL":
            self.cancel_answered.set()
            return
        if method != "INVITE":
            return
        if response.status < 200:
            self.provisional.set()
            if self.state == "calling":
                self.state = "ringing"
            return
        if self.final is not None and not self.final.done():
            self.final.set_result(response)
            if response.status >= 300:
                self._send_error_ack(response)
            return
        # A retransmitted final: it lost our ACK.
        if response.status < 300 and self._ack:
            self._send(self._ack)
        elif response.status >= 300:
            self._send_error_ack(response)

    # -- in-dialog requests from the person ------------------------------------------------------
    def on_ack(self, request: SipRequest) -> None:
        """Nothing of ours needs an ACK (we answer no INVITE on this leg with a 2xx we retransmit)."""

    def on_bye(self, request, tx) -> None:
        tx.respond(self.response(request, 200, "OK"))
        log.info("sip: the person hung up %s", self.call_id)
        self._terminate("the person hung up")

    def on_reinvite(self, request, tx, negotiated: Negotiated | None) -> None:
        """A re-INVITE from the person's phone (session refresh, hold, new address): same codec only;
        answered with our SDP, sent once (their retransmission of the INVITE is absorbed)."""
        current = self.negotiated
        if current is None or self.rtp is None or self.state != "confirmed":
            tx.respond(self.response(request, 491, "Request Pending"))
            return
        if negotiated is not None:
            if negotiated.payload_type != current.payload_type:
                tx.respond(self.response(request, 488, "Not Acceptable Here (codec change)"))
                return
            if negotiated.remote_port and not negotiated.on_hold:
                self.rtp.remote = (negotiated.remote_host, negotiated.remote_port)
            current = negotiated
            self.negotiated = negotiated
        self.sdp_version += 1
        host, port = self.rtp.advertised_address
        response = self.response(request, 200, "OK")
        response.add("Contact", self.contact)
        response.add("Content-Type", "application/sdp")
        response.body = build_answer(current, host, port, self.session_id, self.sdp_version)
        tx.respond(response)

    def on_notify(self, request, tx) -> None:
        tx.respond(self.response(request, 481, "Subscription Does Not Exist"))

    # -- ending ----------------------------------------------------------------------------------
    def _terminate(self, reason: str) -> None:
        if self.state == "terminated" and self.ended.is_set():
            return
        self.state = "terminated"
        self.end_reason = self.end_reason or reason
        self.ended.set()

    def hangup(self, reason: str) -> asyncio.Task | None:
        """BYE an answered leg, CANCEL a ringing one (once); returns the task doing it."""
        ringing = self.state in ("calling", "ringing") and self.final is not None and not self.final.done()
        if ringing and not self._cancelling:
            self._cancelling = True
            return self.server.track(self._abandon(reason))
        if self.state != "confirmed" or self._bye_sent:
            self._terminate(reason)
            return None
        self._bye_sent = True
        self.end_reason = reason
        return asyncio.get_running_loop().create_task(self._bye(reason))

    async def _bye(self, reason: str) -> None:
        log.info("sip: hanging up the person's leg %s (%s)", self.call_id, reason)
        self.state = "terminated"
        self.ended.set()
        response = await self.server.send_in_dialog(
            self, "BYE", extra=[("Reason", f'Q.850;cause=16;text="{reason[:60]}"')]
        )
        if response is None:
            log.warning("sip: no answer to our BYE for %s", self.call_id)

    async def _abandon(self, reason: str) -> None:
        """The transfer is over while the phone rings (the caller hung up): CANCEL, then free all."""
        try:
            await self._cancel(reason)
        finally:
            self._cancelling = False
            self.close()

    def close(self) -> None:
        """Free the sockets and registrations (after the leg ended; a CANCEL in flight does it later)."""
        if self._cancelling:
            return
        if self.rtp is not None:
            self.rtp.close()
        self.server.client_transactions.pop(self.branch, None)
        self.server.legs.pop(self.key, None)
        self._terminate(self.end_reason or "closed")

    # -- sending ---------------------------------------------------------------------------------
    def _next_hop(self) -> tuple[str, int]:
        """Where in-dialog requests go: the first route, else the remote target (IP literals only;
        a name keeps the address the INVITE went to)."""
        import ipaddress

        try:
            uri = parse_uri(parse_name_addr(self.route_set[0]).uri if self.route_set else self.remote_target)
            ipaddress.ip_address(uri.host.strip("[]"))
        except (SipParseError, ValueError):
            return self._destination
        return (uri.host.strip("[]"), uri.port or 5060)

    def _send(self, data: bytes) -> None:
        udp = self.server.udp
        if udp is not None:
            udp.sendto(data, self._destination)

    async def _resolve(self, host: str, port: int) -> tuple[str, int]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            return infos[0][4][0], port
        except OSError:
            return host, port
