"""A web server that answers fixed XML documents by path: the app side of a carrier call, without the app.

Carrier REST tests need calls that last (a long `<Pause>`/`<Wait>`) or end at once, and a URL to
redirect or transfer them to; this serves those documents and records the paths it was asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve_documents(documents: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Serve `documents` (path -> XML) on a free port: yields (base URL, paths requested)."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            requested.append(self.path)
            body = documents.get(self.path)
            out = (body or "not found").encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()
