"""`python -m contactcenter.serve [daphne's arguments]`: daphne that drains on SIGTERM.

daphne's own SIGTERM handling stops Twisted at once: every media WebSocket drops (1006) and every call
in it is cut off. This runs the same daphne server with our signal handlers instead: the first SIGTERM
(or SIGINT) drains (`engine.drain`: not ready, new calls refused, live calls finish for up to
DRAIN_SECONDS, then a closing line, records stored) and then stops; a second one hurries the drain.
"""

from __future__ import annotations

import asyncio
import logging

from daphne.cli import CommandLineInterface
from daphne.server import Server

log = logging.getLogger("contactcenter.serve")


class DrainingServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["signal_handlers"] = False  # ours (engine.drain), installed once the reactor runs
        super().__init__(*args, **kwargs)

    def run(self) -> None:
        from twisted.internet import reactor

        reactor.callWhenRunning(lambda: asyncio.get_event_loop().create_task(self._drain_then_stop()))
        super().run()

    async def _drain_then_stop(self) -> None:
        from engine.drain import drain_on_signal

        try:
            await drain_on_signal()
        except Exception:
            log.exception("drain failed; stopping anyway")
        self.stop()


class DrainingCommandLine(CommandLineInterface):
    server_class = DrainingServer


if __name__ == "__main__":
    DrainingCommandLine.entrypoint()
