"""The one hand-off from async code to Celery, durable when the broker is down.

`apply_async` may run the task right here (eager mode, embedded) or talk to the broker (production);
both block. Running it in a worker thread (`thread_sensitive=False`) keeps ORM work and broker I/O
off the event loop that carries call audio. If the broker cannot be reached, the job is written to
the spool (`calls.spool`) and resent when the broker is back, so nothing a call leaves is lost.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from calls import spool


def runs_here(task: Any) -> bool:
    """Celery runs `task` in this process (embedded mode, `task_always_eager`), not in a worker
    behind a broker."""
    return bool(task.app.conf.task_always_eager)


def send(task: Any, *args: Any, **kwargs: Any) -> Any:
    """Queue `task` from sync code; spool it on disk if the broker is unreachable.

    Returns the AsyncResult, or None when the job was spooled. After a successful send, older
    spooled jobs are resent too (the broker is evidently back). Results are not kept: a hand-off is
    fire-and-forget, and subscribing to the result store would make a Redis outage fatal to the app.
    """
    try:
        result = task.apply_async(args=args, kwargs=kwargs, ignore_result=True)
    except spool.BROKER_ERRORS:
        if runs_here(task):
            raise  # an eager task failed on its own: not a broker outage
        spool.write(task.name, list(args), dict(kwargs))
        return None
    if not runs_here(task) and spool.pending():
        spool.resend()
    return result


async def enqueue(task: Any, *args: Any, **kwargs: Any) -> Any:
    """Queue `task` (a Celery task) with arguments, from async code, without blocking the loop."""
    return await sync_to_async(send, thread_sensitive=False)(task, *args, **kwargs)
