"""Durable hand-off to Celery: jobs the broker could not take are kept on local disk and resent later.

A job is one JSON file `<time>-<uuid>.json` in SPOOL_DIR holding the task name and its arguments,
written to a temporary name and renamed, so a reader never sees half a file. Resending claims a file
by renaming it (atomic; two resenders never send the same file), publishes it, then deletes it. A crash
between publishing and deleting sends a job twice, so the tasks sent this way are idempotent
(`store_call` is keyed on the call id).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

SUFFIX = ".json"
CLAIMED = ".sending"


def _broker_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the broker is unreachable", as opposed to a bug in the task."""
    from kombu.exceptions import OperationalError

    errors: list[type[BaseException]] = [OperationalError, ConnectionError, OSError, TimeoutError]
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency of celery[redis]
        pass
    return tuple(errors)


BROKER_ERRORS = _broker_errors()


def spool_dir() -> Path:
    path = Path(getattr(settings, "SPOOL_DIR", Path(settings.DATA_DIR) / "spool"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(task_name: str, args: list[Any], kwargs: dict[str, Any]) -> Path:
    """Keep one job on disk (fsynced), for `resend` to publish when the broker is back."""
    directory = spool_dir()
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
    body = json.dumps({"task": task_name, "args": args, "kwargs": kwargs}).encode()
    tmp = directory / f".{name}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    final = directory / f"{name}{SUFFIX}"
    os.replace(tmp, final)
    log.warning("broker unreachable: job %s for %s kept in %s", name, task_name, directory)
    return final


def pending() -> list[Path]:
    """Spooled jobs, oldest first."""
    try:
        return sorted(p for p in spool_dir().iterdir() if p.name.endswith(SUFFIX))
    except OSError:
        return []


def publish(task_name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Send one job to the broker (raises a BROKER_ERRORS member when it is down)."""
    from contactcenter.celery import app

    app.loader.import_default_modules()
    task = app.tasks[task_name]
    return task.apply_async(args=args, kwargs=kwargs, ignore_result=True)


def resend(limit: int | None = None) -> int:
    """Publish spooled jobs, oldest first; stop at the first broker error. Returns how many were sent."""
    sent = 0
    for path in pending():
        if limit is not None and sent >= limit:
            break
        claimed = path.with_name(path.name + f"{CLAIMED}-{os.getpid()}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            continue  # another resender took it
        try:
            job = json.loads(claimed.read_bytes())
        except (OSError, ValueError):
            log.error("unreadable spooled job %s: moved aside", path.name)
            os.replace(claimed, path.with_name(path.name + ".bad"))
            continue
        try:
            publish(job["task"], job.get("args", []), job.get("kwargs", {}))
        except BROKER_ERRORS as exc:
            os.replace(claimed, path)
            log.warning("broker still unreachable (%s): %d job(s) stay spooled", exc, len(pending()))
            break
        claimed.unlink(missing_ok=True)
        sent += 1
    if sent:
        log.info("resent %d spooled job(s)", sent)
    return sent


def recover_claims(older_than_seconds: float = 300) -> int:
    """Put back jobs claimed by a resender that died mid-send (so they are not lost)."""
    restored = 0
    now = time.time()
    for path in spool_dir().iterdir():
        if CLAIMED in path.name and now - path.stat().st_mtime > older_than_seconds:
            os.replace(path, path.with_name(path.name.split(CLAIMED)[0]))
            restored += 1
    return restored
