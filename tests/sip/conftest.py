"""SIP test fixtures: `runsip` as a real child process on the test database, and sipp as the caller."""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, gemini_env
from tests.sip.media import CallerScript, LoopbackCapture
from tests.support.live import ROOT, database_url, free_port

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SIPP_PCAPS = Path("/usr/share/sip-tester")
CODECS = {"ulaw": {"codec_pt": "0", "codec_name": "PCMU"}, "alaw": {"codec_pt": "8", "codec_name": "PCMA"}}


def free_udp_port(even: bool = False) -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        # Linux hands out odd ports for bind(0); RTP wants even ones, so pick those at random.
        port = random.randrange(10000, 19998, 2) if even else free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


@dataclass
class RunSip:
    """A running `manage.py runsip` child process."""

    port: int
    rtp_ports: tuple[int, int]
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str]

    @property
    def addr(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_runsip(db_url: str, extra_env: dict[str, str] | None = None) -> RunSip:
    port = free_udp_port()
    low = random.randrange(20000, 60000, 200)
    rtp_ports = (low, low + 198)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "DRAIN_SECONDS": "2",  # SIGTERM at teardown drains: keep it short
        "SIP_BIND_HOST": "127.0.0.1",
        "SIP_PORT": str(port),
        "SIP_ADVERTISE_HOST": "127.0.0.1",
        "SIP_RTP_PORT_RANGE": f"{rtp_ports[0]}-{rtp_ports[1]}",
        **(extra_env or {}),
    }
    log_dir = ARTIFACTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"runsip-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - handed to the child for its lifetime
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runsip"],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = RunSip(port, rtp_ports, process, log_path, env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"runsip exited with {process.returncode}:\n{server.log()}")
        if "runsip: listening" in server.log():
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"runsip did not start within 30 s:\n{server.log()}")


@pytest.fixture(scope="session")
def runsip_factory(django_db_setup, django_db_blocker, gemini_emulator):
    """Start runsip processes with extra settings; each configuration is started once per session."""
    from django.db import connection

    servers: dict[tuple, RunSip] = {}
    db_url = database_url(connection.settings_dict)

    def make(**settings: str) -> RunSip:
        key = tuple(sorted(settings.items()))
        if key not in servers or not servers[key].alive():
            servers[key] = start_runsip(db_url, {**gemini_env(gemini_emulator), **settings})
        return servers[key]

    yield make
    for server in servers.values():
        server.stop()


@pytest.fixture
def runsip(runsip_factory) -> RunSip:
    """The default trunk: no auth, unknown numbers get 404, answers at once."""
    return runsip_factory()


@pytest.fixture
def sip_number(transactional_db, agent):
    """SIP user part "2000" bound to the Support agent, which may end calls (end_call tool)."""
    from agents.models import PhoneNumber, Tool

    agent.tools.add(Tool.objects.create(name="end_call", kind="end_call", description="End the call."))
    return PhoneNumber.objects.create(number="2000", carrier="sip", agent=agent)


# ---------------------------------------------------------------------------------------------------
@dataclass
class SippResult:
    returncode: int
    messages: str
    errors: str
    stdout: str
    media_port: int
    local_port: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def statuses(self, method: str = "") -> list[int]:
        """Status codes of the responses sipp received (optionally only to `method`)."""
        codes = []
        for block in self.messages.split("----------------------------------------------- ")[1:]:
            if "message received" not in block:
                continue
            match = re.search(r"^SIP/2\.0 (\d{3})", block, re.M)
            cseq = re.search(r"^CSeq:\s*\d+\s+(\w+)", block, re.M | re.I)
            if match and (not method or (cseq and cseq.group(1) == method)):
                codes.append(int(match.group(1)))
        return codes

    def received_requests(self) -> list[str]:
        return re.findall(r"message received \[\d+\] bytes :\s*\n\s*([A-Z]+) sip:", self.messages)

    def describe(self) -> str:
        return f"sipp rc={self.returncode}\n{self.stdout[-2000:]}\n{self.errors[-3000:]}\n{self.messages[-6000:]}"


@pytest.fixture
def sipp(tmp_path):
    """Run sipp against a server: sipp(server, scenario="uac_g711.xml", service="2000", keys={...})."""

    def run(
        server: RunSip,
        scenario: str,
        service: str = "2000",
        keys: dict[str, str] | None = None,
        variables: dict[str, str] | None = None,
        files: dict[str, Path] | None = None,
        calls: int = 1,
        limit: int | None = None,
        rate: int | None = None,
        transport: str = "u1",
        extra: list[str] | None = None,
        timeout: int = 60,
        background: bool = False,
    ) -> SippResult | subprocess.Popen:
        workdir = tmp_path / f"sipp-{time.monotonic_ns()}"
        (workdir / "pcap").mkdir(parents=True)
        for pcap in SIPP_PCAPS.glob("*.pcap"):
            (workdir / "pcap" / pcap.name).symlink_to(pcap)
        for name, path in (files or {}).items():
            (workdir / "pcap" / name).symlink_to(path)
        local_port = free_udp_port()
        media_port = free_udp_port(even=True)
        scenario_path = SCENARIOS / scenario if not Path(scenario).is_absolute() else Path(scenario)
        args = [SIPP, f"{server.addr[0]}:{server.addr[1]}", "-sf", str(scenario_path)]
        args += ["-i", "127.0.0.1", "-p", str(local_port), "-mp", str(media_port), "-s", service]
        args += ["-m", str(calls), "-t", transport, "-nostdin", "-trace_msg", "-trace_err"]
        args += ["-message_file", str(workdir / "messages.log"), "-error_file", str(workdir / "errors.log")]
        args += ["-timeout", f"{timeout}s", "-timeout_error", "-max_recv_loops", "100000"]
        if limit:
            args += ["-l", str(limit)]
        if rate:
            args += ["-r", str(rate)]
        for name, value in (keys or {}).items():
            args += ["-key", name, value]
        for name, value in (variables or {}).items():
            args += ["-set", name, value]
        args += extra or []
        if background:
            process = subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            process.workdir = workdir  # type: ignore[attr-defined]
            process.ports = (local_port, media_port)  # type: ignore[attr-defined]
            return process
        done = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=timeout + 30)
        return collect(done.returncode, done.stdout + done.stderr, workdir, local_port, media_port)

    return run


def collect(returncode: int, stdout: str, workdir: Path, local_port: int, media_port: int) -> SippResult:
    read = lambda name: (workdir / name).read_text(errors="replace") if (workdir / name).exists() else ""  # noqa: E731
    return SippResult(returncode, read("messages.log"), read("errors.log"), stdout, media_port, local_port)


def finish(process: subprocess.Popen, timeout: float = 90) -> SippResult:
    """Wait for a background sipp started with `sipp(..., background=True)`."""
    stdout, _ = process.communicate(timeout=timeout)
    return collect(
        process.returncode,
        (stdout or b"").decode(errors="replace"),
        process.workdir,  # type: ignore[attr-defined]
        *process.ports,  # type: ignore[attr-defined]
    )


def call_with_capture(
    sipp,
    server: RunSip,
    script: CallerScript,
    tmp_path: Path,
    scenario: str = "uac_g711.xml",
    tail_ms: int | None = 300,
    **kwargs,
) -> tuple[SippResult, LoopbackCapture]:
    """One sipp call that plays `script` as its RTP while the RTP runsip sends is captured on loopback.

    `tail_ms`: the scenario's `talk_ms` is the script's length plus this (None: the scenario has no
    `talk_ms`, it waits for our BYE). The codec keys follow the script's encoding."""
    pcap = script.write(tmp_path / "call.pcap")
    variables = dict(kwargs.pop("variables", {}))
    if tail_ms is not None:
        variables["talk_ms"] = str(script.duration_ms + tail_ms)
    kwargs.setdefault("keys", CODECS[script.encoding])
    low, high = server.rtp_ports
    with LoopbackCapture(f"udp and src portrange {low}-{high}", tmp_path) as capture:
        result = sipp(server, scenario, variables=variables, files={"call.pcap": pcap}, **kwargs)
    return result, capture
