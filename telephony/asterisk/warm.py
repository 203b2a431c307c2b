"""Warm transfer on Asterisk: a dialled channel for the person, the brief played to it, then ARI bridges.

While the caller hears the engine's hold audio through the media leg:
1. the brief is spoken once by flite into a WAV that runasterisk serves over HTTP (sounds.py);
2. the person is originated into our Stasis app (`POST /channels`, our channel id `cc-warm-...`,
   `timeout` = the target's ring time); a ChannelDestroyed before their StasisStart gives the outcome
   by its cause (17 busy, 18/19/21 no answer, anything else failed);
3. on their StasisStart the brief is played to them (`sound:http://...`), and their key decides
   (ChannelDtmfReceived): 1 adds them to the caller's mixing bridge and removes the engine's media
   leg from it (the engine then ends without hanging up the caller; `StasisCall` keeps the pair's
   bridge until one of them hangs up), 2 hangs them up: "declined".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from engine.port import TransferOffer, TransferOutcome
from telephony.outbound.dial import asterisk_endpoint

from .ari import AriError, AriNotFound
from .sounds import wav_bytes

if TYPE_CHECKING:
    from .stasis import StasisCall

log = logging.getLogger(__name__)

PERSON_PREFIX = "cc-warm-"
DIGITS_SECONDS = 10.0  # after the brief, how long the person has to press 1 or 2
OUTCOME_BUDGET_SECONDS = 27.0  # the engine waits ring_seconds + 30 s for an outcome; keep inside it
CAUSES = {17: "busy", 18: "no-answer", 19: "no-answer", 21: "declined"}


def endpoint_for(destination: str) -> str | None:
    """`PJSIP/200` as it is; a plain number through ASTERISK_DIAL_ENDPOINT; None for anything else."""
    from .stasis import PLAIN_NUMBER

    text = (destination or "").strip()
    if PLAIN_NUMBER.match(text):
        return asterisk_endpoint(text)
    if "/" in text and not text.lower().startswith(("sip:", "sips:")):
        return text
    return None


SPOKEN_CHOICE = "Press 1 or say yes to take the call, press 2 or say no to decline."  # engine.transfer
KEYS_CHOICE = "Press 1 to take the call, or 2 to decline."  # no speech recognition on the person's leg


def speak(text: str) -> bytes:
    """The brief as 8 kHz PCM, spoken by flite (blocking: run in a thread); keys only, so the engine's
    "or say yes" is not offered."""
    from telephony.loopback import check_flite, flite_pcm

    check_flite()
    return flite_pcm(text.replace(SPOKEN_CHOICE, KEYS_CHOICE), 8000)


class WarmTransfer:
    """One attempt for one `StasisCall`; the Stasis app routes the person's events to `event()`."""

    def __init__(self, call: StasisCall, offer: TransferOffer) -> None:
        self.call = call
        self.offer = offer
        token = f"{call.ari.app}-{uuid.uuid4().hex[:20]}"
        self.person_id = PERSON_PREFIX + token
        self.playback_id = PERSON_PREFIX + "pb-" + token
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answered = False
        self.person_up = False  # originated and not yet destroyed

    def event(self, event: dict[str, Any]) -> None:
        self.events.put_nowait(event)

    async def run(self) -> TransferOutcome:
        app = self.call.app
        endpoint = endpoint_for(self.offer.destination)
        if endpoint is None:
            return TransferOutcome(
                "failed", f"{self.offer.destination!r} is not an Asterisk endpoint (PJSIP/200) or a number"
            )
        if app.sounds is None:
            return TransferOutcome("failed", "runasterisk serves no sounds: the brief cannot be played")
        try:
            pcm = await asyncio.to_thread(speak, self.offer.brief)
        except Exception as exc:  # noqa: BLE001 - flite missing or failing
            log.error("warm transfer: cannot speak the brief: %s", exc)
            return TransferOutcome("failed", f"the brief could not be spoken: {exc}")
        name, media = app.sounds.publish(wav_bytes(pcm))
        app.persons[self.person_id] = self
        app.persons[self.playback_id] = self
        try:
            return await self._attempt(endpoint, media, len(pcm) / 16000)
        except asyncio.CancelledError:
            await self._hang_up_person()
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the engine as a failed transfer
            log.exception("warm transfer to %s failed", endpoint)
            await self._hang_up_person()
            return TransferOutcome("failed", f"{type(exc).__name__}: {exc}")
        finally:
            app.sounds.withdraw(name)
            app.persons.pop(self.playback_id, None)
            if app.persons.get(self.person_id) is self:
                app.persons.pop(self.person_id, None)

    async def _attempt(self, endpoint: str, media: str, brief_seconds: float) -> TransferOutcome:
        ari = self.call.ari
        try:
            await ari.originate(
                endpoint,
                self.person_id,
                "warm",
                timeout=max(5, int(self.offer.ring_seconds)),
                callerId=self.offer.caller_number,
            )
        except AriError as exc:
            return TransferOutcome("failed", f"Asterisk refused the dial: {exc.message or exc}")
        self.person_up = True
        log.info("warm transfer: dialling %s for %s", endpoint, self.offer.target_name)
        budget = time.monotonic() + self.offer.ring_seconds + OUTCOME_BUDGET_SECONDS
        deadline = time.monotonic() + self.offer.ring_seconds + 5
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                await self._hang_up_person()
                return TransferOutcome(
                    "no-answer", "answered but pressed no key" if self.answered else "no answer"
                )
            try:
                event = await asyncio.wait_for(self.events.get(), left)
            except TimeoutError:
                continue
            kind = event.get("type")
            if kind == "StasisStart" and not self.answered:
                self.answered = True
                # The brief and the key, within what the engine waits (ring_seconds + 30 s).
                deadline = min(time.monotonic() + brief_seconds + DIGITS_SECONDS + 5, budget)
                await ari.play(self.person_id, media, self.playback_id)
            elif kind == "PlaybackFinished":
                deadline = min(deadline, time.monotonic() + DIGITS_SECONDS)
            elif kind == "ChannelDtmfReceived" and self.answered:
                digit = event.get("digit", "")
                if digit == "1":
                    return await self._bridge()
                if digit == "2":
                    await self._hang_up_person()
                    return TransferOutcome("declined", f"{self.offer.target_name} pressed 2")
            elif kind in ("ChannelDestroyed", "ChannelHangupRequest", "StasisEnd"):
                self.person_up = kind != "ChannelDestroyed" and self.person_up
                if kind != "ChannelDestroyed" and not self.answered:
                    continue  # the dial's end comes with ChannelDestroyed and its cause
                if self.answered:  # hung up on the brief (as on Twilio and Plivo)
                    await self._hang_up_person()
                    return TransferOutcome("declined", "hung up on the brief")
                cause = int(event.get("cause") or 0)
                status = CAUSES.get(cause, "failed")
                return TransferOutcome(status, f"asterisk: {event.get('cause_txt') or cause}")

    async def _bridge(self) -> TransferOutcome:
        """Person into the caller's bridge, the engine's media leg out of it."""
        call = self.call
        try:
            await call.ari.add_channel(call.bridge_id, self.person_id)
        except AriError as exc:
            await self._hang_up_person()
            return TransferOutcome("failed", f"the person could not join the caller's bridge: {exc.message}")
        call.person_id = self.person_id  # from now the call keeps the pair's bridge (StasisCall)
        call.app.persons[self.person_id] = call  # and hears when the person hangs up
        with contextlib.suppress(AriError):
            await call.ari.remove_channel(call.bridge_id, call.leg_id)
        log.info("warm transfer: %s bridged with the caller in %s", self.person_id, call.bridge_id)
        return TransferOutcome("accepted", f"bridged in {call.bridge_id}")

    async def _hang_up_person(self) -> None:
        if not self.person_up:
            return
        self.person_up = False
        with contextlib.suppress(AriNotFound, AriError):
            await asyncio.shield(self.call.ari.hangup(self.person_id))
