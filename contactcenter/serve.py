"""`python -m contactcenter.serve [daphne's arguments]`: daphne that drains on SIGTERM.

daphne's own SIGTERM handling stops Twisted at once: every media WebSocket drops (1006) and every call
in it is cut off. This runs the same daphne server with our signal handlers instead: the first SIGTERM
(or SIGINT) drains (`engine.drain`: not ready, new calls refused, live calls finish for up to
DRAIN_SECONDS, then a closing line, records stored) and then stops; a second one hurries the drain.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from daphne.cli import CommandLineInterface
from daphne.server import Server

log = logging.getLogger("contactcenter.serve")


class DrainingServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        kwargs["signal_handlers"] = False  # ours, installed on the loop once the reactor runs
        super().__init__(*args, **kwargs)
        self._drain: asyncio.Task | None = None
        self._hurry = asyncio.Event()

    def run(self) -> None:
        from twisted.internet import reactor

        reactor.callWhenRunning(self._install_signal_handlers)
        super().run()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_event_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        if self._drain is None:
            self._drain = asyncio.get_event_loop().create_task(self._drain_then_stop())
        else:
            log.warning("second %s: ending the remaining calls now", signal.Signals(sig).name)
            self._hurry.set()

    async def _drain_then_stop(self) -> None:
        from django.conf import settings

        from engine.drain import drain

        try:
            await drain(settings.DRAIN_SECONDS, self._hurry)
        except Exception:
            log.exception("drain failed; stopping anyway")
        self.stop()


class DrainingCommandLine(CommandLineInterface):
    server_class = DrainingServer


if __name__ == "__main__":
    DrainingCommandLine.entrypoint()
