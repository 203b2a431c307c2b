"""`manage.py doctor`: a deployment checked the way a careful operator would.

Each check is one function returning a `Finding` (or a list of them): a level, what was checked and,
for warnings and errors, what to do. The checks live by concern (`services`, `gemini`, `carriers`,
`ports`, `routing`); `run_checks` runs them in order and never lets one check's crash hide the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

OK, WARNING, ERROR = "ok", "warning", "error"


class Finding(NamedTuple):
    level: str  # ok | warning | error
    message: str  # "<what>: <what was found>[: <what to do>]"


Check = Callable[[], "Finding | list[Finding]"]


def checks() -> list[Check]:
    """Every check, in the order an operator fixes things: platform first, then what rides on it."""
    from . import carriers, gemini, ports, routing, services

    return [
        services.database,
        services.migrations,
        services.celery,
        services.channel_layer,
        services.flite,
        gemini.credentials,
        gemini.live_setup,
        carriers.public_base_url,
        carriers.twilio_account,
        carriers.plivo_account,
        carriers.ari,
        ports.sip_ports,
        routing.agents_reachable,
        routing.numbers_on_inactive_agents,
    ]


def run_checks(selected: list[Check] | None = None) -> Iterator[Finding]:
    """The findings of each check in turn (as they come: a slow check does not hold back the others')."""
    for check in selected if selected is not None else checks():
        try:
            found = check()
        except Exception as exc:  # noqa: BLE001 - a broken check is reported, the others still run
            name = check.__name__.replace("_", " ")
            found = Finding(ERROR, f"{name}: the check itself failed ({type(exc).__name__}: {exc})")
        yield from found if isinstance(found, list) else [found]
