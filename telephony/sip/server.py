"""The SIP user agent server: listens on UDP and TCP, answers INVITE/ACK/BYE/CANCEL/OPTIONS.

It answers calls (a trunk or Twilio `<Dial><Sip>` calls us) and never registers; the only calls
it places are a warm transfer's second leg to the person (`leg.py`), whose responses and in-dialog
requests come back through here too. Requests are matched to server transactions (retransmissions) and dialogs (in-dialog
requests); anything else gets the RFC 3261 answer a carrier expects (400, 404, 405, 481, 488...).
"""

from __future__ import annotations

import asyncio
import logging
import socket

from .call import SipCall, is_private
from .config import SipConfig
from .digest import DigestAuthenticator
from .dtmf import info_digit
from .leg import PersonLeg
from .message import (
    SipParseError,
    SipRequest,
    SipResponse,
    parse_name_addr,
    parse_uri,
    response_for,
)
from .sdp import NoCommonCodec, SdpError, negotiate, parse_sdp
from .transactions import (
    ClientTransaction,
    ServerTransaction,
    new_branch,
    new_tag,
    stamp_via,
    transaction_key,
)
from .transport import Flow, TcpConnection, UdpTransport

log = logging.getLogger(__name__)

# How long a Call-ID we answered is remembered after its call ends, so that a late copy of its
# INVITE (past timer L, e.g. a network duplicate or a confused trunk) never starts a second call.
CALL_ID_MEMORY = 600.0


class SipServer:
    ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"
    KNOWN_METHODS = {"REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "UPDATE"}

    def __init__(self, config: SipConfig) -> None:
        self.config = config
        self.auth = (
            DigestAuthenticator(config.auth_username, config.auth_password, config.realm)
            if config.auth_enabled
            else None
        )
        self.transactions: dict[tuple, ServerTransaction] = {}
        self.client_transactions: dict[str, ClientTransaction] = {}
        self.calls: dict[tuple[str, str], SipCall] = {}  # (Call-ID, our tag)
        # Calls we placed (a warm transfer's leg to the person), by (Call-ID, our tag).
        self.legs: dict[tuple[str, str], PersonLeg] = {}
        # Call-ID -> (From tag, CSeq, branch) of the INVITE that started a call, live or recent.
        self.call_ids: dict[str, tuple[str, int, str]] = {}
        self.udp: UdpTransport | None = None
        self.tcp: asyncio.base_events.Server | None = None
        self.accepting = True
        self._tcp_tasks: set[asyncio.Task] = set()
        self._background: set[asyncio.Task] = set()

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.config.bind_host else socket.AF_INET
        _, self.udp = await loop.create_datagram_endpoint(
            lambda: UdpTransport(self.on_message, self.on_bad_request),
            local_addr=(self.config.bind_host, self.config.port),
            family=family,
        )
        self.tcp = await asyncio.start_server(
            self._on_tcp, self.config.bind_host, self.config.port, family=family, reuse_address=True
        )
        log.info(
            "sip: listening on udp+tcp %s:%s (advertising %s, RTP %s-%s, auth %s, unknown numbers: %s)",
            self.config.bind_host,
            self.config.port,
            self.config.advertise_host or "the local address facing each caller",
            *self.config.rtp_ports,
            "on" if self.auth else "off",
            self.config.unknown_number,
        )

    def track(self, work) -> asyncio.Task:
        """Run `work` outliving the call that started it (kept referenced until it finishes)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def refuse_new_calls(self) -> None:
        """Draining: answer new INVITEs 503 so the trunk sends them elsewhere."""
        self.accepting = False

    async def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls (503), hang up the live ones with a BYE, then close the sockets."""
        self.accepting = False
        calls = list(self.calls.values())
        for call in calls:
            call.hangup("server shutting down")
        for leg in list(self.legs.values()):
            leg.hangup("server shutting down")
        if calls:
            await asyncio.wait([asyncio.ensure_future(c.ended.wait()) for c in calls], timeout=grace)
            byes = [c._bye_task for c in calls if c._bye_task is not None]
            if byes:
                await asyncio.wait(byes, timeout=grace)
        if self.tcp is not None:
            self.tcp.close()
        for task in self._tcp_tasks:
            task.cancel()
        if self.udp is not None and self.udp.transport is not None:
            self.udp.transport.close()

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = TcpConnection(reader, writer, self.on_message, self.on_bad_request)
        task = asyncio.current_task()
        if task:
            self._tcp_tasks.add(task)
        try:
            await connection.run()
        finally:
            if task:
                self._tcp_tasks.discard(task)

    @property
    def port(self) -> int:
        return self.udp.local_address[1] if self.udp else self.config.port

    def contact_for(self, flow: Flow, host: str = "") -> str:
        host = host or self.config.media_host_for(flow.addr[0])
        host = f"[{host}]" if ":" in host else host
        suffix = ";transport=tcp" if flow.transport == "TCP" else ""
        return f"<sip:{host}:{self.port}{suffix}>"

    def forget(self, call: SipCall) -> None:
        self.calls.pop(call.key, None)
        origin = self.call_ids.get(call.call_id)

        def expire() -> None:
            if self.call_ids.get(call.call_id) is origin:
                del self.call_ids[call.call_id]

        asyncio.get_running_loop().call_later(CALL_ID_MEMORY, expire)

    def call_variables(self, invite: SipRequest) -> dict[str, str]:
        """What the engine may use in prompts and the configuration webhook: X- headers, Call-ID."""
        variables = {"sip_call_id": invite.call_id, "sip_request_uri": invite.uri}
        for name, value in invite.headers:
            if name.lower().startswith("x-"):
                variables[name.lower().replace("-", "_")] = value
        return variables

    # -- incoming ----------------------------------------------------------------------------------
    def on_bad_request(self, request: SipRequest, reason: str, flow: Flow) -> None:
        """A request we could not parse but can answer: 400 with the reason, nothing else touched."""
        log.warning("sip: 400 to %s from %s:%s: %s", request.method, *flow.addr, reason)
        response = response_for(request, 400, f"Bad Request ({reason[:80]})", to_tag=new_tag())
        response.add("Warning", f'399 contactcenter "{reason[:120]}"')
        flow.send(stamp_via(response, flow.addr).to_bytes())

    def on_message(self, message: SipRequest | SipResponse, flow: Flow) -> None:
        if isinstance(message, SipResponse):
            branch = message.vias[0].branch
            tx = self.client_transactions.get(branch)
            if tx is not None:
                tx.response_received(message)
            return
        self._on_request(message, flow)

    def _respond(self, tx: ServerTransaction, status: int, reason: str, **headers: str) -> None:
        response = response_for(tx.request, status, reason, to_tag=new_tag() if status > 100 else "")
        for name, value in headers.items():
            response.add(name.replace("_", "-"), value)
        response.add("Server", self.config.user_agent)
        tx.respond(response)

    def _on_request(self, request: SipRequest, flow: Flow) -> None:
        key = transaction_key(request)
        existing = self.transactions.get(key)
        if request.method == "ACK":
            if existing is not None and existing.is_invite and existing.status >= 300:
                existing.ack_received()
                return
            call = self._dialog_of(request)
            if call is not None:
                call.on_ack(request)
            return
        if existing is not None:
            existing.retransmission_received()
            return
        if request.method == "CANCEL":
            self._on_cancel(request, flow, key)
            return
        if request.method == "INVITE" and not request.to.tag and request.call_id in self.call_ids:
            self._on_late_invite(request, flow, key)
            return
        tx = ServerTransaction(request, flow, key, self.transactions, self.config.t1)
        max_forwards = request.get("Max-Forwards")
        if max_forwards and int(max_forwards) == 0 and request.method != "OPTIONS":
            self._respond(tx, 483, "Too Many Hops")
            return
        if request.to.tag:
            self._in_dialog(request, tx)
            return
        if request.method == "INVITE":
            self._on_invite(request, tx)
        elif request.method == "OPTIONS":
            self._respond(
                tx,
                200,
                "OK",
                Allow=self.ALLOW,
                Accept="application/sdp",
                Supported="",
                Contact=self.contact_for(flow),
            )
        elif request.method in ("BYE", "INFO"):
            self._respond(tx, 481, "Call/Transaction Does Not Exist")
        elif request.method in self.KNOWN_METHODS:
            self._respond(tx, 405, "Method Not Allowed", Allow=self.ALLOW)
        else:
            self._respond(tx, 501, "Not Implemented", Allow=self.ALLOW)

    def _on_late_invite(self, request: SipRequest, flow: Flow, key: tuple) -> None:
        """An INVITE without To tag for a Call-ID that already has (or had) a call, past its transaction.

        The same INVITE again (From tag, CSeq and branch) is a late retransmission: dropped, as its
        "Accepted" transaction would have (RFC 6026 §8.7). Its sender got our 2xx long ago or gave up
        at timer B (64*T1, the same as our timer L), so any answer would be a stray response, and a
        481 would be retransmitted (timer G) to a peer that never ACKs it. The same From tag and
        CSeq on another branch is a merged request: 482 (RFC 3261 §8.2.2.2). Anything else reusing
        the Call-ID is not a call we can start: 481."""
        from_tag, cseq, branch = self.call_ids[request.call_id]
        same = request.from_.tag == from_tag and request.cseq[0] == cseq
        if same and request.vias[0].branch == branch:
            log.info("sip: dropped a late retransmission of the INVITE for %s", request.call_id)
            return
        tx = ServerTransaction(request, flow, key, self.transactions, self.config.t1)
        if same:
            self._respond(tx, 482, "Loop Detected")
        else:
            self._respond(
                tx, 481, "Call/Transaction Does Not Exist", Warning='399 contactcenter "Call-ID in use"'
            )

    def _dialog_of(self, request: SipRequest) -> SipCall | PersonLeg | None:
        key = (request.call_id, request.to.tag)
        call = self.calls.get(key) or self.legs.get(key)
        if call is not None and call.remote_tag == request.from_.tag:
            return call
        return None

    def _on_cancel(self, request: SipRequest, flow: Flow, key: tuple) -> None:
        tx = ServerTransaction(request, flow, key, self.transactions, self.config.t1)
        invite_tx = self.transactions.get(key[:-1] + ("INVITE",))
        call = None
        if invite_tx is not None:
            call = next((c for c in self.calls.values() if c.tx is invite_tx), None)
        if invite_tx is None or call is None:
            self._respond(tx, 481, "Call/Transaction Does Not Exist")
            return
        response = call.response(request, 200, "OK")
        tx.respond(response)
        call.on_cancel()

    def _in_dialog(self, request: SipRequest, tx: ServerTransaction) -> None:
        call = self._dialog_of(request)
        if call is None:
            self._respond(tx, 481, "Call/Transaction Does Not Exist")
            return
        cseq = request.cseq[0]
        if request.method == "BYE":
            call.on_bye(request, tx)
        elif request.method == "INVITE":
            negotiated = None
            if request.body:
                try:
                    negotiated = negotiate(parse_sdp(request.body))
                except SdpError as exc:
                    self._respond(tx, 400, f"Bad Request ({exc})")
                    return
                except NoCommonCodec as exc:
                    self._respond(tx, 488, "Not Acceptable Here", Warning=f'304 contactcenter "{exc}"')
                    return
            call.on_reinvite(request, tx, negotiated)
        elif request.method == "INFO":
            digit = info_digit(request.get("Content-Type"), request.body)
            if digit is not None:
                call.on_info_dtmf(digit)
            tx.respond(call.response(request, 200, "OK"))
        elif request.method == "OPTIONS":
            tx.respond(call.response(request, 200, "OK"))
        elif request.method == "NOTIFY":
            call.on_notify(request, tx)
        else:
            self._respond(tx, 405, "Method Not Allowed", Allow=self.ALLOW)
        if cseq > call.remote_cseq:
            call.remote_cseq = cseq

    def _on_invite(self, request: SipRequest, tx: ServerTransaction) -> None:
        if not self.accepting:
            self._respond(tx, 503, "Service Unavailable", Retry_After="30")
            return
        unsupported = [r for r in request.get_all("Require") if r.lower() not in ("timer",)]
        if unsupported:
            self._respond(tx, 420, "Bad Extension", Unsupported=", ".join(unsupported))
            return
        if self.auth is not None:
            result = self.auth.check("INVITE", request.get("Authorization"))
            if not result.ok:
                log.info("sip: challenging INVITE %s (%s)", request.call_id, result.reason)
                self._respond(
                    tx, 401, "Unauthorized", WWW_Authenticate=self.auth.challenge(stale=result.stale)
                )
                return
        if request.get("Content-Type").split(";")[0].strip().lower() not in ("application/sdp", ""):
            self._respond(tx, 415, "Unsupported Media Type", Accept="application/sdp")
            return
        negotiated = None  # no body: a delayed offer; ours goes in the 200, the answer in the ACK
        try:
            if request.body:
                negotiated = negotiate(parse_sdp(request.body))
        except SdpError as exc:
            log.warning("sip: 400 to INVITE %s: %s", request.call_id, exc)
            self._respond(tx, 400, f"Bad Request ({exc})", Warning=f'399 contactcenter "{exc}"')
            return
        except NoCommonCodec as exc:
            self._respond(tx, 488, "Not Acceptable Here", Warning=f'304 contactcenter "{exc}"')
            return
        try:
            call = SipCall(self, request, tx.flow, tx)
        except SipParseError as exc:
            self._respond(tx, 400, f"Bad Request ({exc.reason})")
            return
        tx.respond(response_for(request, 100, "Trying"))
        self.calls[call.key] = call
        self.call_ids[call.call_id] = (request.from_.tag, request.cseq[0], request.vias[0].branch)
        call.task = asyncio.get_running_loop().create_task(call.run(negotiated))

    # -- outgoing in-dialog requests -----------------------------------------------------------------
    async def send_in_dialog(
        self, call: SipCall | PersonLeg, method: str, extra: list[tuple[str, str]] | None = None
    ) -> SipResponse | None:
        """Send BYE (or REFER) in `call`'s dialog (one we answered or one we placed) and wait for
        its final response."""
        call.local_cseq += 1
        target = call.remote_target
        routes = list(call.route_set)
        next_hop = parse_name_addr(routes[0]).uri if routes else target
        hop = parse_uri(next_hop)
        flow = call.flow
        transport = "TCP" if flow.reliable else "UDP"
        local = call.media_host or self.config.media_host_for(flow.addr[0])
        local = f"[{local}]" if ":" in local else local
        request = SipRequest(method=method, uri=target)
        request.add("Via", f"SIP/2.0/{transport} {local}:{self.port};branch={new_branch()};rport")
        request.add("Max-Forwards", "70")
        request.add("From", call.local_party)
        request.add("To", call.remote_party)
        request.add("Call-ID", call.call_id)
        request.add("CSeq", f"{call.local_cseq} {method}")
        for route in routes:
            request.add("Route", route)
        request.add("User-Agent", self.config.user_agent)
        for name, value in extra or []:
            request.add(name, value)
        if flow.reliable:
            send = flow.send  # the caller's TCP connection (RFC 5923-style reuse)
        else:
            destination = await self._resolve(hop.host, hop.port or 5060)
            # A Contact with a private address, from a public source: the caller is behind NAT.
            if not routes and is_private(destination[0]) and not is_private(flow.addr[0]):
                destination = flow.addr
            udp = self.udp

            def send(data: bytes) -> bool:
                return udp.sendto(data, destination) if udp else False

        tx = ClientTransaction(request, send, flow.reliable, self.client_transactions, self.config.t1)
        return await tx.run()

    async def _resolve(self, host: str, port: int) -> tuple[str, int]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            return infos[0][4][0], port
        except OSError:
            return host, port
