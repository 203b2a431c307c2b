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

from contactcenter.malloc import cap_arenas

log = logging.getLogger("contactcenter.serve")
REQUESTS_GRACE_SECONDS = 5.0


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
        await self._requests_done(REQUESTS_GRACE_SECONDS)
        self.stop()

    async def _requests_done(self, seconds: float) -> None:
        """Let requests in flight (a carrier's last status callback) finish: a sync view still running when
        the loop stops would wait for it for ever, and the process would never exit."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:  # noqa: ASYNC110 - daphne offers no event for this
            running = [
                d["application_instance"]
                for d in self.connections.values()
                if d.get("application_instance") is not None and not d["application_instance"].done()
            ]
            if not running:
                return
            await asyncio.wait(running, timeout=0.1)


class DrainingCommandLine(CommandLineInterface):
    server_class = DrainingServer


if __name__ == "__main__":
    cap_arenas()  # the embedded process carries calls too (contactcenter/malloc.py)
    DrainingCommandLine.entrypoint()
