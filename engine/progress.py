"""What the calls of a process have said so far, handed to Celery in one job per pass, not one per call.

Every TRANSCRIPT_SAVE_SECONDS each call's saver (`CallHandle._save_as_we_go`) hands its newly closed
transcript segments and a metrics snapshot to `save`. The savers tick on the same clock (`next_pass`),
so what they hand in within COALESCE_S goes to the broker as one `calls.tasks.store_progress` job. One
job per call was ten broker publishes a second at 30 calls, each with its thread hop: about a tenth of
the media process (issue 16). A crash still loses at most the last pass.

In embedded mode Celery runs each job in this process, in a worker thread: there is no broker to spare,
and one job for every call would run all their database work in one burst beside the audio (a frame
p99 of 20 ms at 50 calls in `bench/engine.py`). There each call keeps its own clock and its own job.
"""

from __future__ import annotations

import asyncio
import weakref

from calls.jobs import enqueue, runs_here

COALESCE_S = 0.05  # what the savers of one pass hand in within this long goes in one job

_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batch] = weakref.WeakKeyDictionary()


def _store_progress():
    from calls.tasks import store_progress  # the task module loads the ORM: not at engine import

    return store_progress


def _in_process() -> bool:
    return runs_here(_store_progress())


def next_pass(period: float) -> float:
    """Seconds to the next pass: a whole multiple of `period` on the loop's clock, the same for every
    call; `period` itself in embedded mode (module docstring)."""
    if _in_process():
        return period
    now = asyncio.get_running_loop().time()
    return period - now % period


class _Batch:
    """The entries of one event loop's next job, and the task that sends it."""

    def __init__(self) -> None:
        self.entries: list[dict] = []
        self.sending: asyncio.Task | None = None

    async def send_soon(self) -> None:
        await asyncio.sleep(COALESCE_S)
        entries, self.entries, self.sending = self.entries, [], None  # later savers start the next job
        await enqueue(_store_progress(), entries)


async def save(call_id: str, segments: list[dict], metrics: dict | None) -> None:
    """Queue one call's progress with the other calls' of this pass; returns once the job is handed to
    the broker (or spooled: `calls.jobs`). Raises what the hand-off raised, for every call in it."""
    entry = {"call_id": call_id, "segments": segments, "metrics": metrics}
    if _in_process():
        await enqueue(_store_progress(), [entry])
        return
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = _Batch()
    batch.entries.append(entry)
    if batch.sending is None:
        batch.sending = loop.create_task(batch.send_soon(), name="progress")
    await asyncio.shield(batch.sending)  # one call ending must not cancel the others' job
