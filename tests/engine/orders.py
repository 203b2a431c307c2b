"""A slow order-lookup webhook for tool tests: answers {"status": "shipped"} after `Orders.delay` seconds
and notes when each request started and finished (time.monotonic, the event loop's clock)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Orders(BaseHTTPRequestHandler):
    """The handler; its class attributes are the knobs and the record."""

    delay = 0.0
    status = 200  # the HTTP status it answers with
    started: list[float] = []
    finished: list[float] = []
    bodies: list[dict] = []  # what each request carried (tool, arguments, call)

    def do_POST(self):  # noqa: N802
        Orders.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        Orders.started.append(time.monotonic())
        time.sleep(self.delay)
        out = json.dumps({"status": "shipped"}).encode()
        try:
            self.send_response(self.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        except OSError:  # the engine hung up on us: the call was cancelled
            return
        Orders.finished.append(time.monotonic())

    def log_message(self, *args):
        pass


@pytest.fixture
def orders():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Orders)
    Orders.started, Orders.finished, Orders.delay, Orders.status = [], [], 0.0, 200
    Orders.bodies = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
