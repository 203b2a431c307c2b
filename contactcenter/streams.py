"""`python -m contactcenter.streams`: the carriers' media WebSockets in uvicorn, draining on SIGTERM.

Why a process of its own, and why uvicorn: a Twilio or Plivo media stream is 50 small WebSocket
messages a second each way for as long as the call lasts, and nothing else a web process serves
comes close. daphne reads and writes them through Twisted and autobahn (a sixth of a busy process at
30 calls, issue 16); uvicorn with uvloop, httptools and the `websockets` package's C frame masking
carried the same calls with a quarter less CPU (bench/vs_pipecat.py --daphne, README). Its
`websockets-sansio` protocol (the `websockets` package's sans-I/O parser fed straight from uvloop)
reads a frame with about a sixth less CPU than its older `websockets` one, which uvicorn deprecates
(bench/socket_floor.py); `contactcenter.ws_protocol` is that protocol with fast paths for whole
small frames in and out and no pause of the socket per message. The proxy sends
`/ws/twilio/` and `/ws/plivo/` here and everything else (webhooks, admin, dashboard) to daphne
(`contactcenter.serve`); both run the same ASGI application, so the consumers stay Channels consumers
and either server can serve any path (embedded `./run` keeps everything in one daphne).

uvicorn's own SIGTERM handling closes every WebSocket with 1012 after a few seconds: every call in
the process would be cut off. Here the first SIGTERM (or SIGINT) drains like the web process does
(`engine.drain`: not ready, new calls refused, live calls finish for up to DRAIN_SECONDS, then a
closing line, records stored), and only then does uvicorn shut down; a second signal hurries the drain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from collections.abc import Generator

import uvicorn

from contactcenter.malloc import cap_arenas
from contactcenter.ws_protocol import MediaWebSocketProtocol

log = logging.getLogger("contactcenter.streams")
REQUESTS_GRACE_SECONDS = 5  # requests in flight when the drain ends (a carrier's last status callback)
MAX_MESSAGE_BYTES = 1 << 20  # a carrier's frame is ~300 bytes; the app's FrameGate caps what it reads


class DrainingServer(uvicorn.Server):
    """uvicorn whose exit waits for the calls it holds (module docstring)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # ours instead (engine.drain, installed on the loop in `startup`)

    async def startup(self, sockets=None) -> None:  # noqa: ANN001 - uvicorn's signature
        await super().startup(sockets)
        self._drainer = asyncio.create_task(self._drain_then_exit())  # the app is loaded by now

    async def _drain_then_exit(self) -> None:
        from engine.drain import drain_on_signal

        try:
            await drain_on_signal()
        except Exception:
            log.exception("drain failed; stopping anyway")
        self.should_exit = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-b", "--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=8001)
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/-Proto from any address (behind the TLS proxy, as daphne's flag does)",
    )
    args = parser.parse_args(argv)
    cap_arenas()  # before any thread starts (contactcenter/malloc.py)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")
    config = uvicorn.Config(
        "contactcenter.asgi:application",
        host=args.bind,
        port=args.port,
        lifespan="off",  # Channels' router has no lifespan protocol
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips="*" if args.proxy_headers else None,
        ws=MediaWebSocketProtocol,  # module docstring
        ws_max_size=MAX_MESSAGE_BYTES,
        # No permessage-deflate: base64 audio barely compresses and deflating 100 messages a second per
        # call cost 2 % of the process at 30 calls (daphne never offered it either).
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=REQUESTS_GRACE_SECONDS,
        log_config=None,  # Django's LOGGING (contactcenter.logging) formats every line
        access_log=False,
        server_header=False,
    )
    DrainingServer(config).run()


if __name__ == "__main__":
    main()
