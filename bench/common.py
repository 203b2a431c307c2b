"""Shared benchmark plumbing: a throwaway embedded installation and the Gemini emulator in its own process."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_django(data_dir: str | None = None) -> str:
    """Configure Django on a fresh SQLite database in a temporary DATA_DIR and migrate it."""
    data_dir = data_dir or tempfile.mkdtemp(prefix="cc-bench-")
    os.environ["DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


class EmulatorProcess:
    """`manage.py gemini_emulator` in a child process, so its CPU is not counted as ours."""

    def __init__(self, profile: str = "bench", max_sessions: int = 1000, scenario: str | None = None) -> None:
        from tests.support.live import free_port

        self.port = free_port()
        self.api_key = "bench-key"
        self.ca_file = str(Path(tempfile.mkdtemp(prefix="cc-gem-")) / "ca.pem")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "gemini_emulator",
                "--port",
                str(self.port),
                "--api-key",
                self.api_key,
                "--ca-file",
                self.ca_file,
                "--profile",
                profile,
                "--max-sessions",
                str(max_sessions),
                *(["--scenario", scenario] if scenario else []),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
        )
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"the Gemini emulator did not start: {line}{self.proc.stdout.read()}")
        self.base_url = f"https://127.0.0.1:{self.port}"
        # Keep reading its output (to a log beside the data), so a chatty run never fills the pipe and
        # stalls the emulator mid-benchmark.
        self.log_path = (
            Path(os.environ.get("DATA_DIR") or tempfile.gettempdir()) / f"gemini-emulator-{self.port}.log"
        )
        threading.Thread(target=self._drain, name="emulator-log", daemon=True).start()

    def _drain(self) -> None:
        with open(self.log_path, "a") as log:
            for line in self.proc.stdout:
                log.write(line)

    def env(self) -> dict[str, str]:
        return {
            "GEMINI_API_KEY": self.api_key,
            "GEMINI_BASE_URL": self.base_url,
            "GEMINI_CA_FILE": self.ca_file,
        }

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # still closing a thousand sessions: do not leave it behind
            self.proc.kill()
            self.proc.wait(10)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (no psutil needed)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def trimmed_rss_mb() -> float:
    """RSS after glibc hands its free heap pages back (`malloc_trim`): what live objects hold, as opposed
    to memory the allocator keeps for reuse (which is not a leak)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    return proc_rss_mb(os.getpid())


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def now() -> float:
    return time.perf_counter()
