"""Warm transfer on direct SIP: an attended transfer (RFC 5589) with REFER and Replaces (RFC 3891).

1. While the caller hears the engine's hold audio, we INVITE the person (a second call, our own RTP)
   and render the brief with flite.
2. When they answer they hear the brief and press 1 (take the call) or 2 (decline); digits come as
   RFC 4733 events or SIP INFO, like the caller's do. Nothing within the decision time counts as no
   answer; hanging up during the brief counts as declining.
3. On 1 we send REFER in the caller's dialog with `Refer-To: <person?Replaces=...>` naming the
   person's dialog (our Call-ID, their tag as to-tag, ours as from-tag: the dialog as the person's
   phone sees it). The caller's side INVITEs the person with Replaces, the person's phone swaps our
   dialog for that one (and BYEs ours), and the caller's side reports the new call's 200 in a NOTIFY
   sipfrag: the hand-off is done, and our leg to the caller ends with a BYE.
4. If the trunk will not take the REFER (405/501/403, no answer, a failing sipfrag), the two legs'
   RTP is bridged in this process instead (`relay.py`): the caller still gets the person.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from engine.playout import Playout
from engine.port import TransferOffer, TransferOutcome, WireFormat

from .brief import BriefUnavailable, render_brief
from .call import REFER_TIMEOUT
from .leg import PersonLeg
from .message import SipParseError
from .refer import BadDestination, refer_target, refusal
from .relay import MediaRelay

if TYPE_CHECKING:
    from .call import SipCall

log = logging.getLogger(__name__)

DECISION_SECONDS = 10.0  # after the brief has played: how long the person may take to press 1 or 2
REPLACES_WAIT = 15.0  # after 202: the final NOTIFY (the caller's side INVITEs a phone that is up)
ACCEPT, DECLINE = "1", "2"


class _LegPort:
    """The person's leg as a playout port: frames go out as RTP when the pacer says so."""

    supports_marks = False

    def __init__(self, leg: PersonLeg) -> None:
        self.leg = leg
        assert leg.negotiated is not None
        self.wire = WireFormat(leg.negotiated.encoding, 8000)

    async def send_audio(self, payload: bytes) -> None:
        if self.leg.rtp is not None and self.leg.state == "confirmed":
            self.leg.rtp.send_audio(payload)

    async def clear(self) -> None:
        """Nothing queued outside the playout."""

    async def mark(self, name: str) -> None:
        """Not used."""


def replaces_uri(leg: PersonLeg) -> str:
    """The Refer-To URI: the person's contact with a Replaces header naming our dialog with them.

    RFC 3891 §3: the phone that receives the INVITE with Replaces compares to-tag with its local
    tag and from-tag with its remote tag, so to-tag is the person's tag and from-tag ours."""
    value = f"{leg.call_id};to-tag={leg.remote_tag};from-tag={leg.local_tag}"
    target = leg.remote_target.split("?", 1)[0]
    return f"{target}?Replaces={quote(value, safe='')}"


async def warm_transfer(call: SipCall, offer: TransferOffer) -> TransferOutcome:
    """Dial, brief and hand over; never raises (the engine waits on the outcome)."""
    try:
        return await _warm_transfer(call, offer)
    except Exception as exc:
        log.exception("sip: warm transfer of %s failed", call.call_id)
        leg = call.leg
        if leg is not None and call.relay is None:
            leg.hangup("transfer failed")
            leg.close()
            call.leg = None
        return TransferOutcome("failed", f"the transfer failed: {type(exc).__name__}: {exc}")


async def _warm_transfer(call: SipCall, offer: TransferOffer) -> TransferOutcome:
    if call.state != "confirmed":
        return TransferOutcome("failed", "the call is not connected")
    if call.leg is not None or call.refer_to:
        return TransferOutcome("failed", "a transfer is already in progress")
    config = call.server.config
    try:
        uri = refer_target(offer.destination, call.remote_target, config.transfer_domain)
        leg = PersonLeg(
            call.server,
            uri,
            from_user=call.number,
            display=f"Transfer {offer.caller_number}".strip(),
        )
    except (BadDestination, SipParseError) as exc:
        return TransferOutcome("failed", f"{offer.destination!r} cannot be dialled over SIP: {exc}")
    call.leg = leg
    digits: asyncio.Queue[str] = asyncio.Queue()
    leg._on_dtmf = digits.put_nowait
    brief = asyncio.ensure_future(render_brief(offer.brief))
    try:
        dialling = asyncio.ensure_future(leg.dial(offer.ring_seconds))
        caller_gone = asyncio.ensure_future(call.ended.wait())
        try:
            await asyncio.wait({dialling, caller_gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            caller_gone.cancel()
            if not dialling.done():
                dialling.cancel()  # the caller hung up (or we are cancelled): CANCEL the ringing phone
                await asyncio.gather(dialling, return_exceptions=True)
        if not dialling.done() or dialling.cancelled():
            return TransferOutcome("failed", "the caller hung up while the person's phone rang")
        dialled = dialling.result()
        log.info("sip: warm transfer of %s to %s: %s", call.call_id, offer.target_name, dialled)
        if dialled.status != "answered":
            return TransferOutcome(dialled.status, dialled.detail)
        if call.state == "terminated":
            leg.hangup("the caller hung up")
            return TransferOutcome("failed", "the caller hung up before the person answered")
        try:
            pcm = await brief
        except BriefUnavailable as exc:
            leg.hangup("cannot brief")
            return TransferOutcome("failed", str(exc))
        decision = await _hear_decision(call, leg, pcm, digits)
        if decision != ACCEPT:
            return decision
        return await _hand_over(call, leg, offer)
    finally:
        if not brief.done():
            brief.cancel()
        if call.leg is leg and call.relay is None:
            # Not bridged here and not waiting for the person's phone to drop us: this leg is done
            # (BYE if answered, CANCEL if still ringing: the engine cancels us when the caller hangs up).
            leg.hangup("transfer over")
            leg.close()
            call.leg = None


async def _hear_decision(
    call: SipCall, leg: PersonLeg, pcm: bytes, digits: asyncio.Queue[str]
) -> str | TransferOutcome:
    """Play the brief and wait for 1 or 2; ACCEPT, or the outcome that ends the attempt."""
    playout = Playout(_LegPort(leg))
    playout.start()
    playout.add_pcm(pcm)
    deadline = time.monotonic() + len(pcm) / 16000 + DECISION_SECONDS
    ended = asyncio.ensure_future(leg.ended.wait())
    caller_gone = asyncio.ensure_future(call.ended.wait())
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                leg.hangup("no decision")
                return TransferOutcome("no-answer", "the person answered but pressed neither 1 nor 2")
            digit_task = asyncio.ensure_future(digits.get())
            done, _ = await asyncio.wait(
                {digit_task, ended, caller_gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if digit_task not in done:
                digit_task.cancel()
            if caller_gone in done:
                leg.hangup("the caller hung up")
                return TransferOutcome("failed", "the caller hung up during the brief")
            if ended in done:
                return TransferOutcome("declined", "the person hung up during the brief")
            if digit_task in done:
                digit = digit_task.result()
                if digit == ACCEPT:
                    return ACCEPT
                if digit == DECLINE:
                    leg.hangup("declined")
                    return TransferOutcome("declined", "the person pressed 2")
    finally:
        ended.cancel()
        caller_gone.cancel()
        await playout.stop()


async def _hand_over(call: SipCall, leg: PersonLeg, offer: TransferOffer) -> TransferOutcome:
    """REFER with Replaces; the in-process bridge when the trunk will not do it."""
    target = replaces_uri(leg)
    call.warm_pending = True
    log.info("sip: attended transfer of %s: REFER to %s", call.call_id, target)
    response = await call.send_refer(target)
    why = ""
    if response is None:
        why = f"the phone system did not answer the REFER within {REFER_TIMEOUT:g} seconds"
    elif response.status >= 300:
        why = refusal(response.status, response.reason)
    else:
        final = asyncio.ensure_future(call.transfer_final.wait())
        gone = asyncio.ensure_future(call.ended.wait())
        try:
            await asyncio.wait({final, gone}, timeout=REPLACES_WAIT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            final.cancel()
            gone.cancel()
        status = call.transfer_status
        if 200 <= status < 300 or (not status and (call.state == "terminated" or leg.ended.is_set())):
            # The caller's side now talks to the person: our two legs end (the person's phone BYEs
            # the replaced dialog; `_finish_transfer` ends the caller's once the engine is done).
            call.warm_pending = False
            call.transferred_to = offer.target_name
            call.leg = None  # no longer the caller's: its end must not BYE the person's phone
            call.server.track(_drop_replaced(leg))
            return TransferOutcome("accepted", f"REFER with Replaces completed ({status or 'caller left'})")
        why = (
            f"the caller's side could not reach the person (NOTIFY {status})"
            if status
            else f"no NOTIFY with the outcome within {REPLACES_WAIT:g} seconds"
        )
    call.warm_pending = False
    call.refer_to = ""
    if call.state == "terminated":
        return TransferOutcome("failed", "the caller hung up during the hand-off")
    if leg.state != "confirmed":
        return TransferOutcome("failed", f"the person hung up during the hand-off ({why})")
    log.info("sip: %s; bridging %s and %s here", why, call.call_id, leg.call_id)
    call.relay = MediaRelay(call, leg)
    call.relay.start()
    return TransferOutcome("accepted", f"bridged by this server: {why}")


async def _drop_replaced(leg: PersonLeg, grace: float = 3.0) -> None:
    """The person's phone BYEs the dialog Replaces swapped out; ours follows if it does not."""
    try:
        await asyncio.wait_for(leg.ended.wait(), grace)
    except TimeoutError:
        bye = leg.hangup("replaced")
        if bye is not None:
            await bye
    leg.close()
