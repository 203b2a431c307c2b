"""Whether this process takes new calls: `/ready` answers 503 once it drains, so the proxy (or Kubernetes)
sends new calls elsewhere while the live ones finish. `/health` stays 200: the process is alive."""

from __future__ import annotations

_draining = False


def draining() -> bool:
    return _draining


def start_draining() -> None:
    """From now on this process refuses new calls and reports itself not ready."""
    global _draining
    _draining = True
