"""SIP transactions (RFC 3261 §17): retransmissions on UDP, and matching them.

Server side: a retransmitted request gets the last response again; a non-2xx final response to an
INVITE is retransmitted on UDP (timer G, doubling to T2) until its ACK or timer H. 2xx responses to
INVITE are the dialog's business (RFC 3261 §13.3.1.4, see `call.py`): after one, the transaction is
"Accepted" (RFC 6026 §8.7) and silently absorbs INVITE retransmissions until timer L (64*T1).
Client side (our BYE): the request is retransmitted on UDP until a final response or timer F.
T1 is 500 ms unless `SIP_T1_MS` says otherwise; the 64*T1 timers (F, H, J, L) scale with it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets

from .message import SipRequest, SipResponse
from .transport import Flow

log = logging.getLogger(__name__)

T1 = 0.5
T2 = 4.0
T4 = 5.0
MAGIC = "z9hG4bK"


def new_branch() -> str:
    return MAGIC + secrets.token_hex(10)


def new_tag() -> str:
    return secrets.token_hex(6)


def transaction_key(request: SipRequest) -> tuple:
    """RFC 3261 §17.2.3 matching: branch + sent-by + method (ACK matches its INVITE).

    Requests from RFC 2543 clients (branch without the magic cookie) fall back to Call-ID, CSeq
    number and From tag.
    """
    via = request.vias[0]
    method = "INVITE" if request.method == "ACK" else request.method
    if via.branch.startswith(MAGIC):
        return (via.branch, via.host, via.port, method)
    return (request.call_id, request.cseq[0], request.from_.tag, method)


def stamp_via(response: SipResponse, addr: tuple[str, int]) -> SipResponse:
    """RFC 3261 §18.2.1 + RFC 3581: note the real source on the top Via (received, rport)."""
    for index, (name, value) in enumerate(response.headers):
        if name != "Via":
            continue
        first, sep, rest = value.partition(",")
        first = re.sub(r";\s*rport(?=;|$|\s)", f";rport={addr[1]}", first)
        if ";received=" not in first:
            first += f";received={addr[0]}"
        response.headers[index] = (name, first + sep + rest)
        break
    return response


class ServerTransaction:
    def __init__(self, request: SipRequest, flow: Flow, key: tuple, registry: dict, t1: float = T1) -> None:
        self.request = request
        self.t1 = t1
        self.flow = flow
        self.key = key
        self._registry = registry
        self.last_response: bytes | None = None
        self.status = 0
        self.final_sent = False
        self._retransmit: asyncio.Task | None = None
        registry[key] = self

    @property
    def is_invite(self) -> bool:
        return self.request.method == "INVITE"

    def respond(self, response: SipResponse) -> None:
        if self.final_sent:
            log.debug("sip: dropped a second final response %s", response.status)
            return
        data = stamp_via(response, self.flow.addr).to_bytes()
        self.last_response = data
        self.status = response.status
        self.flow.send(data)
        if response.status < 200:
            return
        self.final_sent = True
        if self.is_invite and response.status >= 300 and not self.flow.reliable:
            self._retransmit = asyncio.get_running_loop().create_task(self._retransmit_until_ack(data))
        else:
            # Keep absorbing retransmitted requests for a while: timer J, or timer L ("Accepted",
            # RFC 6026) after a 2xx to an INVITE, on any transport.
            accepted = self.is_invite and response.status < 300
            self._forget_after(64 * self.t1 if accepted or not self.flow.reliable else T4)

    @property
    def accepted(self) -> bool:
        """RFC 6026 "Accepted": an INVITE answered 2xx, whose retransmissions the dialog handles."""
        return self.is_invite and 200 <= self.status < 300

    def retransmission_received(self) -> None:
        """The client sent the request again: it lost our response (or we have none yet).

        In "Accepted" the INVITE retransmission is absorbed (RFC 6026 §8.7): the dialog is already
        retransmitting the 2xx until the ACK, so a copy from here would only double the traffic."""
        if self.accepted:
            log.debug("sip: absorbed an INVITE retransmission for %s after the 2xx", self.request.call_id)
            return
        if self.last_response is not None:
            self.flow.send(self.last_response)

    def ack_received(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
            self._forget_after(T4)  # timer I: absorb ACK retransmissions

    async def _retransmit_until_ack(self, data: bytes) -> None:
        interval, waited = self.t1, 0.0
        try:
            while waited < 64 * self.t1:
                await asyncio.sleep(interval)
                waited += interval
                self.flow.send(data)
                interval = min(interval * 2, T2)
            log.info("sip: no ACK for %s to %s (timer H)", self.status, self.request.call_id)
        finally:
            self._forget_after(0 if self._retransmit is None else T4)

    def _forget_after(self, delay: float) -> None:
        def forget() -> None:
            if self._registry.get(self.key) is self:
                del self._registry[self.key]

        if delay <= 0:
            forget()
        else:
            asyncio.get_running_loop().call_later(delay, forget)


class ClientTransaction:
    """A request we send (BYE): retransmitted on UDP until a final response, timer F = 64*T1."""

    def __init__(self, request: SipRequest, send, reliable: bool, registry: dict, t1: float = T1) -> None:
        self.request = request
        self.t1 = t1
        self.branch = request.vias[0].branch
        self._send = send
        self.reliable = reliable
        self._registry = registry
        self.response: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        registry[self.branch] = self

    def response_received(self, response: SipResponse) -> None:
        if response.status >= 200 and not self.response.done():
            self.response.set_result(response)

    async def run(self) -> SipResponse | None:
        data = self.request.to_bytes()
        interval = self.t1
        deadline = asyncio.get_running_loop().time() + 64 * self.t1
        try:
            self._send(data)
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return None
                wait = remaining if self.reliable else min(interval, remaining)
                try:
                    return await asyncio.wait_for(asyncio.shield(self.response), wait)
                except TimeoutError:
                    if not self.reliable:
                        self._send(data)
                        interval = min(interval * 2, T2)
        finally:
            self._registry.pop(self.branch, None)
