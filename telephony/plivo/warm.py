"""Warm transfer on Plivo: dial the person, brief them, and on a 1 put caller and person in one conference.

The port (the process holding the caller's Audio Stream) creates the person's call with the REST API;
Plivo then calls our webhooks for that call (`views.warm_*`), which may land on any web process. So
what the person does travels back over the channel layer (Redis in production, in memory when
embedded, where one daphne holds both), on the group `plivo.warm.<token>`, and the brief travels to
the answer webhook through Django's cache (shared the same way). The token in each webhook URL is
covered by Plivo's V3 signature, and every signed request is accepted once (signature.py).

- answered: the answer webhook speaks the brief and asks for one key (`<GetDigits>`);
- 1: the person's leg joins the conference room; the port transfers the caller's leg (Plivo's call
  transfer API, `aleg_url` -> `<Conference>` of the same room) and returns "accepted";
- 2: "declined"; no key in time: "no-answer"; the hangup callback's CallStatus gives "busy",
  "no-answer" or "failed", and "declined" for a person who hung up on the brief (as on Twilio).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.urls import reverse

from engine.port import TransferOffer, TransferOutcome

from . import rest

if TYPE_CHECKING:
    from .port import PlivoPort

log = logging.getLogger(__name__)

EVENT = "plivo.warm"  # channel-layer message type
CACHE_PREFIX = "plivo-warm:"
DIGITS_SECONDS = 10  # how long the person has to press 1 or 2 after the brief
ANSWERED_GRACE_SECONDS = 20.0  # after the answer: the brief, the key, and Plivo's callbacks
OUTCOME_BUDGET_SECONDS = 27.0  # the engine waits ring_seconds + 30 s for an outcome; keep inside it
HANGUP_STATUSES = {
    "busy": "busy",
    "no-answer": "no-answer",
    "timeout": "no-answer",
    "cancel": "no-answer",
    "failed": "failed",
    "completed": "declined",  # answered and hung up on the brief (as on Twilio)
}


def group_for(token: str) -> str:
    return f"plivo.warm.{token}"


@dataclass(frozen=True)
class Pending:
    """What the person's webhooks need, kept in the cache under the transfer's token."""

    brief: str
    room: str
    target_name: str

    def as_dict(self) -> dict[str, str]:
        return {"brief": self.brief, "room": self.room, "target_name": self.target_name}


def pending(token: str) -> Pending | None:
    """The transfer a webhook's token names, while its port still waits (None: unknown or over)."""
    if not token or not token.isalnum():
        return None
    data = cache.get(CACHE_PREFIX + token)
    return Pending(**data) if isinstance(data, dict) else None


def report(token: str, step: str, **fields: Any) -> None:
    """From a webhook (sync view): tell the waiting port what the person did."""
    from asgiref.sync import async_to_sync

    layer = get_channel_layer()
    if layer is None:
        log.error("plivo: no channel layer: warm transfer %s cannot hear %s", token, step)
        return
    async_to_sync(layer.group_send)(group_for(token), {"type": EVENT, "step": step, **fields})


SPOKEN_CHOICE = "Press 1 or say yes to take the call, press 2 or say no to decline."  # engine.transfer


def without_choice(brief: str) -> str:
    """The engine's brief without its "press 1 or say yes" line: <GetDigits> asks for keys only (it does
    not hear "yes"), so the person is asked with the nested prompt instead."""
    return brief.replace(SPOKEN_CHOICE, "").strip()


def room_for(caller_uuid: str) -> str:
    return f"cc-warm-{caller_uuid}"


class WarmTransfer:
    """One attempt, run by `PlivoPort.warm_transfer`; `run()` never raises."""

    def __init__(self, port: PlivoPort, offer: TransferOffer, base_url: str) -> None:
        self.port = port
        self.offer = offer
        self.base_url = base_url
        self.token = secrets.token_hex(16)
        self.caller_uuid = port.serializer.call_id
        self.room = room_for(self.caller_uuid)
        self.person_uuid = ""
        self.answered = False

    def url(self, name: str, **query: str) -> str:
        path = reverse(name, kwargs={"token": self.token})
        return self.base_url + path + (("?" + urlencode(query)) if query else "")

    async def run(self) -> TransferOutcome:
        started = time.monotonic()
        layer = get_channel_layer()
        if layer is None:
            return TransferOutcome(
                "failed", "no channel layer: the person's answer could not reach this call"
            )
        if not self.caller_uuid:
            return TransferOutcome("failed", "the stream has not started: no Plivo call to transfer")
        channel = await layer.new_channel()
        group = group_for(self.token)
        await layer.group_add(group, channel)
        state = Pending(without_choice(self.offer.brief), self.room, self.offer.target_name)
        await sync_to_async(cache.set)(CACHE_PREFIX + self.token, state.as_dict(), 3600)
        try:
            return await self._attempt(layer, channel, started)
        except asyncio.CancelledError:
            await self._hang_up_person("the caller's side ended the transfer")
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the engine as a failed transfer
            log.exception("plivo: warm transfer to %s failed", self.offer.destination)
            await self._hang_up_person("the transfer failed")
            return TransferOutcome("failed", f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await layer.group_discard(group, channel)
            with contextlib.suppress(Exception):
                await sync_to_async(cache.delete)(CACHE_PREFIX + self.token)

    async def _attempt(self, layer, channel: str, started: float) -> TransferOutcome:
        ours = await sync_to_async(_our_number)(self.caller_uuid)
        try:
            await asyncio.to_thread(
                rest.dial_person,
                ours,
                self.offer.destination,
                self.url("plivo-warm-answer"),
                self.url("plivo-warm-hangup"),
                int(self.offer.ring_seconds),
            )
        except Exception as exc:  # noqa: BLE001 - the carrier refused the dial
            log.warning("plivo: dialling %s for a warm transfer failed: %s", self.offer.destination, exc)
            return TransferOutcome("failed", f"the carrier refused the dial: {exc}")
        deadline = started + self.offer.ring_seconds + 10.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                await self._hang_up_person("no decision in time")
                return TransferOutcome(
                    "no-answer", "no answer" if not self.answered else "no key pressed in time"
                )
            try:
                message = await asyncio.wait_for(layer.receive(channel), left)
            except TimeoutError:
                continue
            step = message.get("step")
            self.person_uuid = str(message.get("call_uuid") or self.person_uuid)
            if step == "answered" and not self.answered:
                self.answered = True
                # Time for the brief and the key, within what the engine waits (ring + 30 s).
                deadline = min(
                    time.monotonic() + ANSWERED_GRACE_SECONDS + len(self.offer.brief) / 12,
                    started + self.offer.ring_seconds + OUTCOME_BUDGET_SECONDS,
                )
            elif step == "accepted":
                return await self._bridge()
            elif step == "declined":
                return TransferOutcome("declined", f"{self.offer.target_name} pressed 2")
            elif step == "nokey":
                return TransferOutcome("no-answer", "answered but pressed no key in time")
            elif step == "ended":
                status = str(message.get("status", ""))
                outcome = HANGUP_STATUSES.get(status, "failed")
                detail = f"Plivo: {status} ({message.get('cause') or '-'})"
                if status == "completed":
                    detail = "hung up on the brief"
                return TransferOutcome(outcome, detail)

    async def _bridge(self) -> TransferOutcome:
        """The person is in the room: send the caller there (the stream ends; the caller stays up)."""
        if not self.port.open:  # the caller hung up on hold: nobody to bridge the person with
            await self._hang_up_person("the caller hung up on hold")
            return TransferOutcome("failed", "the caller hung up before the person accepted")
        self.port.remote_ended = True  # from now the stream's close is the hand-off, not a hangup
        try:
            await asyncio.to_thread(
                rest.transfer, self.caller_uuid, self.url("plivo-warm-conference", room=self.room)
            )
        except Exception as exc:  # noqa: BLE001 - the caller left, or Plivo refused
            self.port.remote_ended = False
            log.warning("plivo: moving caller %s to %s failed: %s", self.caller_uuid, self.room, exc)
            await self._hang_up_person("the caller could not be moved")
            return TransferOutcome("failed", f"the caller could not be moved to the conference: {exc}")
        log.info("plivo: caller %s and %s bridged in %s", self.caller_uuid, self.person_uuid, self.room)
        return TransferOutcome("accepted", f"bridged in conference {self.room}")

    async def _hang_up_person(self, why: str) -> None:
        if not self.person_uuid:
            return
        log.info("plivo: hanging up the person's call %s (%s)", self.person_uuid, why)
        with contextlib.suppress(Exception):
            await asyncio.shield(asyncio.to_thread(rest.end_call, self.person_uuid))


def _our_number(caller_uuid: str) -> str:
    """The Plivo number of this call (the person sees it as the caller id: Plivo dials only from
    numbers of the account)."""
    from agents.models import Carrier
    from calls.models import Call

    call = (
        Call.objects.filter(carrier=Carrier.PLIVO, carrier_call_id=caller_uuid)
        .order_by("-started_at")
        .first()
    )
    if call is None:
        return ""
    return call.from_number if call.direction == Call.Direction.OUTBOUND else call.to_number


async def warm_transfer(port: PlivoPort, offer: TransferOffer, base_url: str) -> TransferOutcome:
    return await WarmTransfer(port, offer, base_url).run()
