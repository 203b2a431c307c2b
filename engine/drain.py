"""Draining a process that holds calls (a deploy's SIGTERM): no caller is cut off mid-sentence.

1. Refuse new calls (they hear the busy prompt) and report not ready (`/ready` 503).
2. Let the live calls go on until they end, for up to DRAIN_SECONDS.
3. Then the agent says a short closing line on each call still up, and the call ends.
4. Wait until every call has handed its records to Celery, then return: the caller exits.
A second signal (`hurry`) skips straight to ending the calls; records are still stored.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from django.conf import settings

from calls import readiness

from .call import live_calls

log = logging.getLogger(__name__)

DRAIN_GOODBYE = (
    "I'm sorry, I have to end this call now for a system update. Please call us back in a minute. Goodbye."
)
DRAIN_REASON = "server restarting"
GOODBYE_SECONDS = 12.0  # time for the closing line to be said and heard
STORE_SECONDS = 10.0  # time for the ended calls to hand over their records


async def _calls_end(handles: list, seconds: float, hurry: asyncio.Event) -> None:
    """Until every call of `handles` has ended and stored its records, `hurry` is set, or `seconds` pass."""
    if not handles:
        return
    ended = asyncio.ensure_future(asyncio.gather(*(h.wait() for h in handles), return_exceptions=True))
    hurried = asyncio.ensure_future(hurry.wait())
    await asyncio.wait({ended, hurried}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    hurried.cancel()


async def drain(seconds: float, hurry: asyncio.Event) -> None:
    readiness.start_draining()
    log.warning(
        "draining: %d live call(s); new calls refused; waiting up to %.0f s", len(live_calls()), seconds
    )
    await _calls_end(live_calls(), seconds, hurry)
    handles = live_calls()
    if handles and not hurry.is_set():
        log.warning("draining: %d call(s) still up: the agent says goodbye", len(handles))
        for handle in handles:
            asyncio.create_task(handle.say_goodbye(DRAIN_GOODBYE, DRAIN_REASON, grace=GOODBYE_SECONDS))
        await _calls_end(handles, GOODBYE_SECONDS + 1, hurry)
    for handle in live_calls():
        handle.end_now(DRAIN_REASON)
    await _calls_end(handles, STORE_SECONDS, asyncio.Event())
    log.warning("drained: every call ended and stored")


async def drain_on_signal(before: Callable[[], object] | None = None) -> None:
    """Wait for SIGTERM or SIGINT, then drain (a second signal hurries it); returns when the process may exit.

    `before` runs when the drain starts (a transport that can refuse new calls on the wire does it there:
    `runsip` answers INVITEs 503).
    """
    loop = asyncio.get_running_loop()
    first, hurry = asyncio.Event(), asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if first.is_set():
            log.warning("second %s: ending the remaining calls now", sig.name)
            hurry.set()
        first.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    await first.wait()
    if before is not None:
        before()
    await drain(settings.DRAIN_SECONDS, hurry)
