"""One inbound SIP call: its dialog (RFC 3261 §12), its RTP leg and its link to the engine.

The call answers with SDP, retransmits the 200 OK on UDP until the ACK (§13.3.1.4), hands caller
audio and RFC 4733 digits to the engine, and turns the engine's hangup into a BYE. An INVITE without
SDP (delayed offer, §13.2.1) gets our offer in the 200 and the engine starts once the ACK brings the
answer; an ACK without one ends the call with a BYE and a failed Call row saying so. `SipMediaPort`
is what the engine sees: G.711 at 8 kHz, frames sent as RTP the moment the engine paces them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from typing import TYPE_CHECKING, Any

from contactcenter.logging import call_context
from engine.port import CallRequest, TransferOffer, TransferOutcome, WireFormat
from telephony.rtp import RtpEndpoint

from .message import (
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    parse_name_addr,
    parse_uri,
    response_for,
)
from .refer import BadDestination, refer_target, refusal, sipfrag_status
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
from .transactions import T2, ServerTransaction, new_branch, new_tag
from .transport import Flow

if TYPE_CHECKING:
    from .leg import PersonLeg
    from .relay import MediaRelay
    from .server import SipServer

log = logging.getLogger(__name__)

REFER_TIMEOUT = 5.0  # seconds for the trunk's final answer to our REFER
TRANSFER_NOTIFY_WAIT = 45.0  # after 202: how long the new call may ring before we give up on NOTIFYs
TRANSFER_BYE_GRACE = 3.0  # after a 2xx sipfrag: the trunk's BYE is due; then we send ours
NO_ANSWER_IN_ACK = "no SDP answer in the ACK (delayed offer)"


class SipMediaPort:
    """The engine's view of a SIP call: encode nothing, time nothing, send RTP."""

    supports_marks = False

    def __init__(self, call: SipCall, encoding: str) -> None:
        self.call = call
        self.wire = WireFormat(encoding, 8000)

    async def send_audio(self, payload: bytes) -> None:
        self.call.send_audio(payload)

    async def clear(self) -> None:
        """Nothing to flush: RTP frames leave as the engine paces them, none are queued here."""

    async def mark(self, name: str) -> None:
        """Not used (supports_marks is False): a sent RTP frame is as good as played."""

    async def hangup(self, reason: str) -> None:
        self.call.hangup(reason)

    async def transfer(self, destination: str) -> dict[str, Any]:
        """Blind transfer with an in-dialog REFER: ok once the trunk accepts it (202)."""
        return await self.call.refer(destination)

    async def warm_transfer(self, offer: TransferOffer) -> TransferOutcome:
        """Attended transfer: dial and brief the person, then REFER with Replaces (see `warm.py`)."""
        from .warm import warm_transfer

        return await warm_transfer(self.call, offer)


class SipCall:
    def __init__(self, server: SipServer, invite: SipRequest, flow: Flow, tx: ServerTransaction) -> None:
        self.server = server
        self.invite = invite
        self.flow = flow
        self.tx = tx
        self.call_id = invite.call_id
        self.local_tag = new_tag()
        self.remote: NameAddr = invite.from_
        self.remote_tag = self.remote.tag
        self.local_to = invite.get("To")
        contact = invite.get_all("Contact")
        self.remote_target = parse_name_addr(contact[0]).uri if contact else self.remote.uri
        self.route_set = invite.get_all("Record-Route")  # UAS: in the order received
        self.local_cseq = random.randint(1, 2**16)
        self.remote_cseq = invite.cseq[0]
        uri = parse_uri(invite.uri)
        self.number = uri.user or parse_uri(invite.to.uri).user
        self.from_number = parse_uri(self.remote.uri).user if ":" in self.remote.uri else ""
        self.state = "early"  # early -> confirmed -> terminated
        self.answered = False
        self.negotiated: Negotiated | None = None
        self.rtp: RtpEndpoint | None = None
        self.media_host = ""
        self.session_id = new_session_id()
        self.sdp_version = 1
        self.handle: Any = None
        self.port: SipMediaPort | None = None
        self.acked = asyncio.Event()
        self.ack_body = b""  # the ACK's SDP: the answer to our offer when the INVITE had none
        self.ended = asyncio.Event()
        self.hangup_reason = ""
        self._pending_2xx: dict[int, asyncio.Task] = {}
        self._bye_task: asyncio.Task | None = None
        self.task: asyncio.Task | None = None
        # Transfer (REFER): the URI referred to, whether the trunk accepted it, its sipfrag status.
        self.refer_to = ""
        self.transferred_to = ""  # the engine's destination, once the REFER got a 2xx
        self.transfer_status = 0
        self.transfer_final = asyncio.Event()
        # Warm transfer: the call to the person, the in-process bridge when REFER is refused, and
        # whether a REFER with Replaces is waiting for its NOTIFY (the engine is still on the call).
        self.leg: PersonLeg | None = None
        self.relay: MediaRelay | None = None
        self.warm_pending = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.call_id, self.local_tag)

    @property
    def local_party(self) -> str:
        """Our From in requests we send in this dialog (the INVITE's To, with our tag)."""
        return self.local_to if ";tag=" in self.local_to else f"{self.local_to};tag={self.local_tag}"

    @property
    def remote_party(self) -> str:
        return self.invite.get("From")

    # -- responses -------------------------------------------------------------------------------
    def response(self, request: SipRequest, status: int, reason: str) -> SipResponse:
        response = response_for(request, status, reason, to_tag=self.local_tag if status > 100 else "")
        if 100 < status < 300 and request.method == "INVITE":
            response.add("Contact", self.server.contact_for(self.flow, self.media_host))
        response.add("Server", self.server.config.user_agent)
        return response

    def answer_sdp(self) -> bytes:
        assert self.negotiated and self.rtp
        host, port = self.rtp.advertised_address
        return build_answer(self.negotiated, host, port, self.session_id, self.sdp_version)

    def send_2xx(self, tx: ServerTransaction, body: bytes) -> None:
        """Send a 200 OK to an INVITE and retransmit it on UDP until its ACK (timer T1..T2)."""
        response = self.response(tx.request, 200, "OK")
        response.add("Allow", self.server.ALLOW)
        response.add("Content-Type", "application/sdp")
        response.body = body
        tx.respond(response)
        data = tx.last_response or b""
        cseq = tx.request.cseq[0]
        self._pending_2xx[cseq] = asyncio.get_running_loop().create_task(self._retransmit_2xx(cseq, data))

    async def _retransmit_2xx(self, cseq: int, data: bytes) -> None:
        t1 = self.server.config.t1
        interval, waited = t1, 0.0
        try:
            while waited < 64 * t1:
                await asyncio.sleep(interval if not self.flow.reliable else 64 * t1)
                waited += interval if not self.flow.reliable else 64 * t1
                if waited >= 64 * t1:
                    break
                self.flow.send(data)
                interval = min(interval * 2, T2)
        except asyncio.CancelledError:
            return
        self._pending_2xx.pop(cseq, None)
        if cseq == self.remote_cseq and not self.acked.is_set() and self.state != "terminated":
            log.warning("sip: no ACK for the 200 OK of %s within 64*T1; hanging up", self.call_id)
            self.acked.set()  # RFC 3261 §13.3.1.4: confirm, then end the session with a BYE
            self.remote_hangup("no ACK")
            self.hangup("no ACK for 200 OK")

    # -- in-dialog requests from the caller -------------------------------------------------------
    def on_ack(self, request: SipRequest) -> None:
        cseq = request.cseq[0]
        task = self._pending_2xx.pop(cseq, None)
        if task:
            task.cancel()
        if cseq == self.invite.cseq[0] and not self.acked.is_set():
            self.ack_body = request.body
            self.state = "confirmed" if self.state != "terminated" else self.state
            self.acked.set()
            log.info("sip: call %s to %s confirmed", self.call_id, self.number)

    def on_bye(self, request: SipRequest, tx: ServerTransaction) -> None:
        tx.respond(self.response(request, 200, "OK"))
        log.info("sip: caller hung up %s", self.call_id)
        self.acked.set()
        self.remote_hangup("caller hung up")

    def on_cancel(self) -> bool:
        """CANCEL before the 200: 487 to the INVITE. False once answered (no effect)."""
        if self.answered or self.tx.final_sent:
            return False
        self.tx.respond(self.response(self.invite, 487, "Request Terminated"))
        log.info("sip: caller cancelled %s before answer", self.call_id)
        self.state = "terminated"
        if self.task:
            self.task.cancel()
        self.ended.set()
        return True

    def on_reinvite(self, request: SipRequest, tx: ServerTransaction, negotiated: Negotiated | None) -> None:
        """A re-INVITE (hold, refresh, new address): keep the codec, follow the new address."""
        if negotiated is not None and self.negotiated is not None:
            if negotiated.payload_type != self.negotiated.payload_type:
                tx.respond(self.response(request, 488, "Not Acceptable Here (codec change)"))
                return
            if (negotiated.remote_host, negotiated.remote_port, negotiated.direction) != (
                self.negotiated.remote_host,
                self.negotiated.remote_port,
                self.negotiated.direction,
            ):
                self.sdp_version += 1
            self.negotiated = negotiated
            if self.rtp is not None and negotiated.remote_port and not negotiated.on_hold:
                self.rtp.remote = (negotiated.remote_host, negotiated.remote_port)
        self.remote_cseq = request.cseq[0]
        self.send_2xx(tx, self.answer_sdp())

    # -- transfer (REFER, RFC 3515) ----------------------------------------------------------------
    async def refer(self, destination: str) -> dict[str, Any]:
        """Send REFER and wait for its final response; the call goes on unless it is a 2xx."""
        if self.state != "confirmed":
            return {"ok": False, "error": "the call is not connected"}
        if self.refer_to:
            return {"ok": False, "error": "a transfer is already in progress"}
        config = self.server.config
        try:
            target = refer_target(destination, self.remote_target, config.transfer_domain)
        except (BadDestination, SipParseError) as exc:
            return {"ok": False, "error": str(exc)}
        log.info("sip: transferring %s to %s (REFER)", self.call_id, target)
        response = await self.send_refer(target)
        if response is not None and 200 <= response.status < 300:
            self.transferred_to = destination
            log.info("sip: REFER for %s accepted (%s)", self.call_id, response.status)
            return {"ok": True, "destination": destination, "refer_to": target}
        self.refer_to = ""
        if response is None:
            error = f"the phone system did not answer the transfer request within {REFER_TIMEOUT:g} seconds"
        else:
            error = refusal(response.status, response.reason)
        log.info("sip: REFER for %s failed: %s", self.call_id, error)
        return {"ok": False, "error": error}

    async def send_refer(self, target: str) -> SipResponse | None:
        """REFER the far end of this dialog to `target` (blind, or attended with Replaces in it); the
        final response, or None if none came within REFER_TIMEOUT."""
        self.refer_to = target
        ours = parse_name_addr(self.local_to).uri
        extra = [
            ("Refer-To", f"<{target}>"),
            ("Referred-By", f"<{ours}>"),
            ("Contact", self.server.contact_for(self.flow, self.media_host)),
        ]
        try:
            return await asyncio.wait_for(self.server.send_in_dialog(self, "REFER", extra), REFER_TIMEOUT)
        except TimeoutError:
            return None

    def on_notify(self, request: SipRequest, tx: ServerTransaction) -> None:
        """The transfer's progress (Event: refer): 200 to every NOTIFY, the call leg ends on a 2xx."""
        event = request.get("Event").split(";")[0].strip().lower()
        if event != "refer" or not self.refer_to:
            tx.respond(self.response(request, 481, "Subscription Does Not Exist"))
            return
        tx.respond(self.response(request, 200, "OK"))
        status = sipfrag_status(request.body)
        log.info("sip: transfer of %s: %s", self.call_id, status or "NOTIFY without a status line")
        if status is None or status[0] < 200 or self.transfer_final.is_set():
            return
        self.transfer_status = status[0]
        self.transfer_final.set()
        if (
            200 <= status[0] < 300
            and self.handle is not None
            and self.transferred_to
            and not self.warm_pending
        ):
            # The caller now talks to the destination: stop the agent, keep the SIP leg for the BYE.
            self.handle.remote_hangup(f"transferred to {self.transferred_to}")

    async def _finish_transfer(self) -> None:
        """After an accepted REFER: wait for the outcome; the trunk's BYE is preferred to ours."""
        ended = asyncio.ensure_future(self.ended.wait())
        final = asyncio.ensure_future(self.transfer_final.wait())
        try:
            await asyncio.wait(
                {ended, final}, timeout=TRANSFER_NOTIFY_WAIT, return_when=asyncio.FIRST_COMPLETED
            )
            if self.state != "terminated" and 200 <= self.transfer_status < 300:
                await asyncio.wait({ended}, timeout=TRANSFER_BYE_GRACE)
        finally:
            ended.cancel()
            final.cancel()
        if self.state == "terminated":
            return
        if 200 <= self.transfer_status < 300:
            self.hangup(f"transferred to {self.transferred_to}")
        elif self.transfer_status:
            self.hangup(f"transfer failed ({self.transfer_status})")
        else:
            self.hangup("no transfer outcome from the trunk")

    # -- audio -----------------------------------------------------------------------------------
    def send_audio(self, payload: bytes) -> None:
        if self.rtp is not None and self.state != "terminated" and self.relay is None:
            self.rtp.send_audio(payload)

    def _on_audio(self, payload: bytes, packet) -> None:
        if self.handle is not None:
            self.handle.push_audio(payload)

    def _on_dtmf(self, digit: str) -> None:
        log.info("sip: DTMF %s on %s", digit, self.call_id)
        if self.handle is not None:
            self.handle.push_dtmf(digit)

    def _on_media_fault(self, exc: Exception) -> None:
        """Handling an RTP packet raised (logged by the endpoint): this call ends as failed with a
        BYE; the server and every other call go on."""
        reason = f"RTP handling failed: {type(exc).__name__}"
        if self.handle is not None:
            self.handle.remote_hangup(reason, failed=True)
        self.hangup(reason)

    def on_info_dtmf(self, digit: str) -> None:
        self._on_dtmf(digit)

    # -- ending ----------------------------------------------------------------------------------
    def remote_hangup(self, reason: str) -> None:
        """The caller's side ended the call (BYE, no ACK); after a transfer that is its success."""
        if self.state == "terminated":
            return
        if self.transferred_to and reason == "caller hung up":
            reason = f"transferred to {self.transferred_to}"
        self.state = "terminated"
        self.hangup_reason = reason
        if self.handle is not None:
            self.handle.remote_hangup(reason)
        self.ended.set()

    def hangup(self, reason: str) -> None:
        """Our side ends the call: BYE once answered (after the ACK), nothing sent twice."""
        if self._bye_task is not None:
            return
        if self.state == "terminated" and self.hangup_reason:
            self.ended.set()
            return
        self.hangup_reason = reason
        self._bye_task = asyncio.get_running_loop().create_task(self._send_bye(reason))

    async def _send_bye(self, reason: str) -> None:
        if not self.answered:
            if not self.tx.final_sent:
                self.tx.respond(self.response(self.invite, 480, "Temporarily Unavailable"))
            self.state = "terminated"
            self.ended.set()
            return
        await self.acked.wait()
        self.state = "terminated"
        self.ended.set()
        log.info("sip: hanging up %s (%s)", self.call_id, reason)
        response = await self.server.send_in_dialog(
            self, "BYE", extra=[("Reason", f'Q.850;cause=16;text="{reason[:60]}"')]
        )
        if response is None:
            log.warning("sip: no answer to our BYE for %s", self.call_id)

    # -- the call's life -------------------------------------------------------------------------
    async def run(self, negotiated: Negotiated | None) -> None:
        """The call from routing to cleanup; `negotiated` is None for a delayed offer."""
        with call_context(self.call_id):
            try:
                await self._run(negotiated)
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("sip: call %s failed", self.call_id)
                if not self.answered and not self.tx.final_sent:
                    self.tx.respond(self.response(self.invite, 500, "Server Internal Error"))
                else:
                    self.hangup("internal error")
            finally:
                await self._cleanup()

    async def _run(self, offered: Negotiated | None) -> None:
        from asgiref.sync import sync_to_async

        from agents.routing import route_number

        route = await sync_to_async(route_number, thread_sensitive=False)("sip", self.number)
        config = self.server.config
        if not route.found and config.unknown_number == "404":
            self.tx.respond(self.response(self.invite, 404, "Not Found"))
            self.ended.set()
            return
        self.negotiated = offered
        self.media_host = config.media_host_for(self.flow.addr[0])
        self.rtp = await RtpEndpoint.open(
            bind_host=config.bind_host,
            ports=config.rtp_ports,
            advertise_host=self.media_host,
            remote=None if offered is None or offered.on_hold else (offered.remote_host, offered.remote_port),
            latch=True,
            on_audio=self._on_audio,
            on_dtmf=self._on_dtmf,
            on_fault=self._on_media_fault,
            # A delayed offer: what we offer (PCMU, PCMA, events 101) until the answer narrows it.
            payload_types=frozenset({offered.payload_type} if offered else {0, 8}),
            telephone_event_pt=(offered.telephone_event_pt if offered else None) or 101,
            payload_type=offered.payload_type if offered else 0,
        )
        if config.answer_delay > 0:
            self.tx.respond(self.response(self.invite, 180, "Ringing"))
            await asyncio.sleep(config.answer_delay)
        if self.state == "terminated":
            return
        self.answered = True
        if offered is not None:
            negotiated = offered
            self.send_2xx(self.tx, self.answer_sdp())
        else:
            host, port = self.rtp.advertised_address
            self.send_2xx(self.tx, build_offer(host, port, self.session_id, self.sdp_version))
            answer = await self._answer_from_ack()
            if answer is None:
                await self.ended.wait()
                if self._bye_task is not None:
                    await self._bye_task
                return
            negotiated = answer
        log.info(
            "sip: answered %s from %s to %s (%s, RTP %s:%s -> %s:%s)",
            self.call_id,
            self.from_number,
            self.number,
            negotiated.encoding,
            *self.rtp.advertised_address,
            negotiated.remote_host,
            negotiated.remote_port,
        )
        # An unknown number in "apology" mode goes to the engine too: it refuses the call, plays
        # engine.prompts' apology through the port, records the refused call and hangs up.
        await self._run_engine(negotiated)
        await self.ended.wait()
        if self._bye_task is not None:
            await self._bye_task

    async def _answer_from_ack(self) -> Negotiated | None:
        """Delayed offer: wait for the ACK and take its SDP as the answer to our offer.

        None when the call cannot go on (no ACK, the caller hung up, or an ACK without a usable
        answer: that one is hung up with a BYE and stored as a failed call saying why)."""
        await self.acked.wait()
        if self.state == "terminated" or self._bye_task is not None:
            if self.hangup_reason == "no ACK":
                await self._store_failed("no ACK for the 200 OK")
            return None
        negotiated, reason = None, NO_ANSWER_IN_ACK
        if self.ack_body:
            try:
                negotiated = negotiate(parse_sdp(self.ack_body))
                if negotiated.payload_type not in (0, 8):
                    raise NoCommonCodec(f"payload type {negotiated.payload_type} was not offered")
            except (SdpError, NoCommonCodec) as exc:
                negotiated, reason = None, f"unusable SDP answer in the ACK: {exc}"
        if negotiated is None:
            log.warning("sip: %s for %s; hanging up", reason, self.call_id)
            self.hangup(reason)
            await self._store_failed(reason)
            return None
        self.negotiated = negotiated
        assert self.rtp is not None
        self.rtp.use_codec(negotiated.payload_type, negotiated.telephone_event_pt or 101)
        if not negotiated.on_hold:
            self.rtp.remote = (negotiated.remote_host, negotiated.remote_port)
        return negotiated

    async def _store_failed(self, reason: str) -> None:
        """A call that ends before the engine starts still gets its Call row, failed with `reason`."""
        from engine import store

        prepared = await store.prepare(self._call_request())
        await store.mark_failed(prepared.call_id, reason)

    def _call_request(self) -> CallRequest:
        return CallRequest(
            carrier="sip",
            from_number=self.from_number,
            to_number=self.number,
            carrier_call_id=self.call_id,
            variables=self.server.call_variables(self.invite),
        )

    async def _run_engine(self, negotiated: Negotiated) -> None:
        from engine import start_call

        self.port = SipMediaPort(self, negotiated.encoding)
        self.handle = await start_call(self._call_request(), self.port)
        if self.state == "terminated":  # the caller hung up while the engine started
            self.handle.remote_hangup(self.hangup_reason or "caller hung up")
        with call_context(str(self.handle.call_id)):
            await self.handle.wait()
            if self.relay is not None:
                await self.relay.run()  # a warm transfer bridged here: until one side hangs up
            elif self.state != "terminated" and self.transferred_to:
                await self._finish_transfer()
        if self.state != "terminated":
            self.hangup("call ended")

    async def _cleanup(self) -> None:
        if self.leg is not None:
            self.leg.hangup("call ended")
            self.leg.close()
        for task in self._pending_2xx.values():
            task.cancel()
        self._pending_2xx.clear()
        if self.rtp is not None:
            self.rtp.close()
        self.state = "terminated"
        self.ended.set()
        self.server.forget(self)


def is_private(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False


__all__ = ["SipCall", "SipMediaPort", "is_private", "new_branch"]
