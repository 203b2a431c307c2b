"""A real server (daphne, or the media streams' uvicorn) for the ASGI app, in a child process, sharing
the test database.

Channels' live-server test case does not share the test database across processes; this one hands
the child the test database's URL (a WAL-mode SQLite file, or the PostgreSQL test database), so
rows a test writes are seen by the server and the other way round (use `transactional_db`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """The URL of the (test) database the current process uses, for a child process."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = settings_dict.get("USER") or "postgres"
        password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"
    raise RuntimeError(f"no live-server support for {engine}")


@dataclass
class LiveServer:
    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


SERVERS = {
    "daphne": "contactcenter.serve",  # daphne that drains on SIGTERM, as `./run` and production start it
    "streams": "contactcenter.streams",  # uvicorn for the media sockets, draining the same way (production)
}


def start_daphne(
    db_url: str, log_dir: Path, extra_env: dict[str, str] | None = None, server: str = "daphne"
) -> LiveServer:
    """The app in a child process: `server` "daphne" (the web process) or "streams" (the media one)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "PUBLIC_BASE_URL": url,
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "DRAIN_SECONDS": "5",  # `stop()` waits 10 s: a drain with live calls must end before
        **(extra_env or {}),
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{server}-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - handed to the child for its lifetime
    argv = [sys.executable, "-m", SERVERS[server], "-b", "127.0.0.1", "-p", str(port)]
    if server == "daphne":
        argv.append("contactcenter.asgi:application")
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    live = LiveServer(url, port, process, log_path, env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{SERVERS[server]} exited with {process.returncode}:\n{live.log()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return live
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    live.stop()
    raise RuntimeError(f"{SERVERS[server]} did not answer /health within 30 s:\n{live.log()}")
