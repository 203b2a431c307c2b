"""Which process holds which calls: one heartbeat per process, so a crash never leaves a call live for ever.

The first call a process takes starts one asyncio task that writes this process's heartbeat every
PROCESS_HEARTBEAT_SECONDS in a worker thread (never on the event loop, never per frame); each call's row
names the process (`Call.process`, set by `store.prepare`). `calls.recovery.sweep` closes the calls of a
process whose heartbeat stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from calls import recovery

log = logging.getLogger(__name__)

# host:pid:start: unique across restarts (a pid is reused), short enough for the Call column.
PROCESS_NAME = f"{socket.gethostname()[:60]}:{os.getpid()}:{int(time.time())}"
_task: asyncio.Task | None = None


def _beat() -> None:
    close_old_connections()
    recovery.heartbeat(PROCESS_NAME)


beat = sync_to_async(_beat, thread_sensitive=False)


async def _run() -> None:
    while True:
        await asyncio.sleep(settings.PROCESS_HEARTBEAT_SECONDS)
        try:
            await beat()
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the heartbeat
            log.warning("heartbeat of %s failed: %s", PROCESS_NAME, exc)


def keep_alive() -> None:
    """Start this process's heartbeat task on the running loop, once (the first beat is in `prepare`)."""
    global _task
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _task = loop.create_task(_run(), name="process-heartbeat")
