"""Warm transfer to a person: hold the caller, let the transport dial and brief the person, then hand
the caller over (the agent leaves) or bring the agent back with what happened.

The built-in tool `warm_transfer` takes a target (one of the agent's transfer targets), a reason and a
summary the model writes. The transport does the dialling (`MediaPort.warm_transfer`): the engine only
builds the brief, plays hold audio, stops the model hearing and speaking meanwhile, and turns the
outcome into the call's end (accepted) or a result the model tells the caller (anything else).
Hold audio is rendered once per wire rate and handed to the playout in pieces every quarter second:
no work per frame beyond the playout's own sending.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from agents import hours

from . import builtins
from .port import TRANSFER_STATUSES, TransferOffer, TransferOutcome
from .prompts import prompt_pcm
from .tools import ToolError

if TYPE_CHECKING:
    from agents.snapshot import ToolConfig

    from .call import CallHandle
    from .playout import Playout

log = logging.getLogger(__name__)

HOLD_TOP_UP_MS = 1000  # keep this much hold audio queued in the playout
HOLD_CHECK_S = 0.25  # how often the hold loop looks (not per frame)
OUTCOME_MARGIN_S = 30.0  # a port must answer within ring_seconds + this
LINE_GONE_GRACE_S = 5.0  # the caller's media leg ended mid-transfer: an acceptance may still be on its way

NOT_POSSIBLE = "transfers to a person are not possible on this line"
INSTRUCTIONS = {
    "declined": "Tell the caller {name} cannot take the call right now, and offer a callback.",
    "no-answer": "Tell the caller nobody at {name} answered, and offer a callback.",
    "busy": "Tell the caller {name} is busy, and offer a callback.",
    "failed": "Tell the caller the transfer to {name} did not go through, and offer a callback.",
}


_NANP = re.compile(r"^\+1(\d{3})(\d{3})(\d{4})$")


def speakable(number: str) -> str:
    """A North American number grouped as people say it (+1 415 555 0177), so speech reads it digit
    group by digit group rather than as one large number; other numbers as they are."""
    match = _NANP.match(number)
    return "+1 " + " ".join(match.groups()) if match else number


def brief_text(caller_number: str, reason: str, summary: str) -> str:
    """What the person hears before accepting: who calls, why, the model's summary, and how to answer."""
    who = speakable(caller_number) if caller_number else "an unknown number"
    about = " ".join(reason.split()).rstrip(".") or "a question"
    summary = " ".join(summary.split())
    if summary and summary[-1] not in ".!?":
        summary += "."
    parts = [f"Call from {who} about {about}.", summary, "Press 1 or say yes to take the call, "
             "press 2 or say no to decline."]  # fmt: skip
    return " ".join(p for p in parts if p)


@lru_cache(maxsize=8)
def hold_audio(rate: int) -> tuple[bytes, bytes]:
    """(the spoken "please hold" line, one loop of quiet hold chimes) as 16-bit PCM at `rate`."""
    t = np.arange(int(rate * 0.5)) / rate
    envelope = np.exp(-t * 5.0)
    notes = [np.sin(2 * np.pi * f * t) * envelope for f in (523.25, 659.25, 783.99, 659.25)]
    loop = np.concatenate([*notes, np.zeros(int(rate * 2.0))])
    music = (loop * 2500).astype("<i2").tobytes()
    return prompt_pcm("hold", rate), music


class Hold:
    """Hold audio on the caller's line until `stop` (the announcement once, then the chimes looped)."""

    def __init__(self, playout: Playout, rate: int) -> None:
        self._playout = playout
        self._announcement, self._music = hold_audio(rate)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hold-audio")

    async def _run(self) -> None:
        self._playout.add_pcm(self._announcement)
        while True:
            if self._playout.buffered_ms < HOLD_TOP_UP_MS:
                self._playout.add_pcm(self._music)
            await asyncio.sleep(HOLD_CHECK_S)

    async def stop(self, flush: bool = True) -> None:
        """Stop the hold audio; `flush`: also drop what the playout and the carrier still have queued
        (not when the caller's line has gone to the person: there is nobody to tell)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if flush:
            await self._playout.flush()


@dataclass
class Handoff:
    """The record of the call's last warm transfer (stored on the Call)."""

    to: str
    outcome: str
    seconds: float

    def payload(self) -> dict[str, Any]:
        return {"to": self.to, "outcome": self.outcome, "seconds": round(self.seconds, 2)}


async def _outcome(handle: CallHandle, offer: TransferOffer, dial) -> TransferOutcome:
    """The port's outcome, or "failed" if it raised or overran; "abandoned" if the caller's line went
    and no acceptance followed within LINE_GONE_GRACE_S (the port's dial is then cancelled)."""
    task = asyncio.ensure_future(dial(offer))
    gone = asyncio.ensure_future(handle.line_gone.wait())
    try:
        done, _ = await asyncio.wait(
            {task, gone}, timeout=offer.ring_seconds + OUTCOME_MARGIN_S, return_when=asyncio.FIRST_COMPLETED
        )
        if task not in done and gone in done:
            # Bridging the caller ends our media leg, sometimes before the port reports the acceptance.
            done, _ = await asyncio.wait({task}, timeout=LINE_GONE_GRACE_S)
            if task not in done:
                task.cancel()
                return TransferOutcome("abandoned", "the caller hung up while on hold")
        if task not in done:
            task.cancel()
            return TransferOutcome("failed", "the line gave no outcome in time")
        try:
            outcome = task.result()
        except Exception as exc:  # noqa: BLE001 - a port must not raise; never leave the caller on hold
            log.exception("warm transfer on the port failed")
            return TransferOutcome("failed", f"the transfer failed ({type(exc).__name__})")
        if not isinstance(outcome, TransferOutcome) or outcome.status not in TRANSFER_STATUSES:
            return TransferOutcome("failed", f"the line answered {outcome!r}")
        return outcome
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()


async def warm_transfer(handle: CallHandle, tool: ToolConfig, args: dict[str, Any]) -> dict[str, Any]:
    """The `warm_transfer` built-in: see the module docstring."""
    agent = handle.agent
    name = str(args.get("target", "")).strip()
    target = agent.transfer_target(name)
    if target is None:
        known = ", ".join(t.name for t in agent.transfer_targets)
        raise ToolError(
            f"there is no transfer target called {name!r}; "
            + (f"the targets are: {known}" if known else "this agent has no transfer targets")
        )
    if not hours.is_open(target.hours, timezone.localtime()):
        handle.handoff = Handoff(target.name, "closed", 0.0)
        raise ToolError(f"{target.name} is closed now; hours {target.hours}")
    dial = getattr(handle.port, "warm_transfer", None)
    if dial is None:
        raise ToolError(NOT_POSSIBLE)
    if handle.hold is not None:
        raise ToolError("a transfer is already in progress; wait for its outcome")
    caller, ours = builtins.parties(handle)
    offer = TransferOffer(
        destination=target.destination,
        target_name=target.name,
        brief=brief_text(caller, str(args.get("reason", "")), str(args.get("summary", ""))),
        caller_number=caller,
        ring_seconds=settings.WARM_TRANSFER_RING_SECONDS,
        our_number=ours,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    log.info("warm transfer to %s: dialling %s, caller on hold", target.name, target.destination)
    await handle.begin_hold(f"Warm transfer to {target.name}: the caller is on hold")
    try:
        outcome = await _outcome(handle, offer, dial)
    except BaseException:  # the call is ending (cancelled): stop the hold loop, leave the line alone
        await handle.end_hold(flush=False)
        raise
    if outcome.status != "accepted" and handle.line_gone.is_set():
        # The caller left while on hold: whatever the port reports after that (a cancelled dial reads as
        # failed on SIP), the record says so, the same on every transport.
        outcome = TransferOutcome("abandoned", outcome.detail or "the caller hung up while on hold")
    seconds = loop.time() - started
    handle.handoff = Handoff(target.name, outcome.status, seconds)
    log.info("warm transfer to %s: %s after %.1f s %s", target.name, outcome.status, seconds, outcome.detail)
    if outcome.status == "accepted":
        await handle.end_hold(flush=False)  # the caller is with the person now: nothing more to play
        handle.hand_off(f"handed off to {target.name}", f"{target.name} took the call after {seconds:.1f} s")
        return {"ok": True, "outcome": "accepted"}
    if outcome.status == "abandoned" or handle.line_gone.is_set():
        await handle.end_hold(flush=False)
        handle.line_dropped()
        return {"ok": False, "outcome": outcome.status}
    await handle.end_hold()
    handle.transcript.note(
        "system", f"Warm transfer to {target.name}: {outcome.status}, the agent is back", handle.elapsed_ms()
    )
    result = {
        "ok": False,
        "outcome": outcome.status,
        "instructions": INSTRUCTIONS[outcome.status].format(name=target.name),
    }
    if outcome.detail:
        result["detail"] = outcome.detail
    return result
