"""Periodic work that apps above `calls` hand to `manage.py housekeeping` (embedded mode has no Celery beat).

`campaigns` registers its scheduler tick here from its `ready()`, so the command in this app runs it without
importing `campaigns`.
"""

from __future__ import annotations

from collections.abc import Callable

_jobs: dict[str, Callable[[], object]] = {}


def register(name: str, job: Callable[[], object]) -> None:
    """Run `job()` on every housekeeping pass (its failures are reported, never fatal)."""
    _jobs[name] = job


def jobs() -> dict[str, Callable[[], object]]:
    return dict(_jobs)
