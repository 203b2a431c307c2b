"""A throwaway CA and a loopback server certificate: the SDK always speaks wss (reference §2.3)."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


def make_server_context(ca_file: str | Path) -> ssl.SSLContext:
    """Create a CA, write its PEM to ca_file, return a server context for 127.0.0.1 and localhost."""
    ca = trustme.CA(organization_name="Gemini emulator")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    path = Path(ca_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(path))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def client_context(ca_file: str | Path) -> ssl.SSLContext:
    """A client context that trusts only the emulator's CA."""
    return ssl.create_default_context(cafile=str(ca_file))
