"""The one hand-off from async code to Celery.

`.delay()` may run the task right here (eager mode, embedded) or talk to the broker (production);
both block. Running it in a worker thread (`thread_sensitive=False`) keeps ORM work and broker I/O
off the event loop that carries call audio.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async


async def enqueue(task: Any, *args: Any, **kwargs: Any) -> Any:
    """Queue `task` (a Celery task) with arguments, from async code, without blocking the loop."""
    return await sync_to_async(task.delay, thread_sensitive=False)(*args, **kwargs)
