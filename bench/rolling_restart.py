"""A rolling restart of the production topology on this machine, with real-time calls in progress.

    .venv/bin/python bench/rolling_restart.py [--calls 30] [--call-seconds 20] [--database cc_rolling]
                                              [--redis redis://127.0.0.1:6379/7]

Processes, all local and each in its own process group (stopped in a `finally`, also on failure):
HAProxy from Debian (a config mirroring `deploy/proxy/haproxy.cfg`: `/ready` health checks, leastconn,
WebSocket tunnels, `/ws/twilio/` and `/ws/plivo/` to the `streams` backend; plain HTTP on 127.0.0.1)
in front of two `python -m contactcenter.serve` web processes (daphne: the webhooks) and two
`python -m contactcenter.streams` processes (uvicorn: the media streams, so the calls); PostgreSQL (the
database is dropped and created by the script); the Redis channel layer and broker (its DB is flushed);
a Celery worker and Celery beat (or `manage.py housekeeping` in a loop); the Gemini emulator (bench
profile). This process is the Twilio emulator: it keeps N calls in progress, each a signed voice
webhook then a Media Stream at real-time pace, both through the proxy's one address; as a call ends
(the caller hangs up after `--call-seconds`) the next one starts.

While the calls go on it restarts each process in turn, web ones first: takes it out of the proxy (the admin
socket's `state drain`, what a Kubernetes `preStop` pause gives an ingress; `--no-prestop` skips it, and
then new calls that reach the process before the proxy's `/ready` check notices hear the busy prompt), sends SIGTERM, sees `/ready`
answer 503 and the proxy mark the server down, waits for the process to drain (its calls finish
normally: they are shorter than DRAIN_SECONDS) and exit 0, starts it again on the same port and waits
for the proxy to mark it up. Then it SIGKILLs the streams process holding the most calls.

It prints and checks: calls dropped by the restarts (0: a dropped call is one whose caller socket
closed without the caller hanging up, or whose row is not `completed`), records lost (0: every answered
call has its row, metrics and transcript), calls stored with the caller's hangup as their end reason
(not left running in their process until a drain or a timeout ended them), the killed process's calls marked failed "process ended"
within 60 s with their transcript so far, and new calls answered throughout (none refused or unanswered
in any phase). It exits non-zero on any failure. `tests/test_rolling_restart.py` runs the same code
with 6 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.live import free_port  # noqa: E402

NUMBER = "+15005550006"
TWILIO_TOKEN = "rolling-restart-twilio-token"
MARK_LIMIT_SECONDS = 60.0  # the promise: a dead process's calls are marked within a minute


@dataclass
class Options:
    calls: int = 30
    call_seconds: float = 20.0
    web_processes: int = 2  # daphne: webhooks, admin, dashboard
    stream_processes: int = 2  # uvicorn: the media sockets, where the calls live
    drain_seconds: float = 120.0  # longer than any call: a drain lets every call finish normally
    check_inter_ms: int = 500  # HAProxy's /ready check interval (production: 2 s)
    sweeper: str = "beat"  # "beat": Celery beat (production); "housekeeping": the command in a loop
    heartbeat_seconds: float | None = None  # None: the settings' defaults (10 s heartbeat, 30 s stale)
    stale_seconds: float | None = None
    transcript_save_seconds: float = 2.0
    prestop: bool = True  # take a server out of the proxy before its SIGTERM (Kubernetes: preStop pause)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cc-rolling-")))


# --- processes ------------------------------------------------------------------------------------
class Child:
    """A child process in its own process group, logging to a file; `stop()` ends the whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # anything the group left behind
        except ProcessLookupError:
            pass
        self.process.wait()


MODULES = {"web": "contactcenter.serve", "streams": "contactcenter.streams"}  # proxy backend -> server


class WebProcess:
    """One `python -m contactcenter.serve` (backend "web", daphne) or `python -m contactcenter.streams`
    (backend "streams", uvicorn: the media sockets) on a fixed port (a restart binds the same one)."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, backend: str = "web") -> None:
        self.name = name
        self.backend = backend
        self.port = free_port()
        self.env = env
        self.log_dir = log_dir
        self.child: Child | None = None
        self.pids: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", MODULES[self.backend], "--proxy-headers", "-b", "127.0.0.1"]
        argv += ["-p", str(self.port)]
        if self.backend == "web":
            argv.append("contactcenter.asgi:application")
        self.child = Child(f"{self.name}-{len(self.pids) + 1}", argv, self.env, self.log_dir)
        self.pids.append(self.child.pid)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.child.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start:\n{self.child.log_tail()}")
                try:
                    if (await http.get(self.url + "/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready within {timeout} s:\n{self.child.log_tail()}")

    async def ready_status(self) -> int | None:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(self.url + "/ready")).status_code
        except httpx.HTTPError:
            return None


HAPROXY_CFG = """\
# Generated by bench/rolling_restart.py: deploy/proxy/haproxy.cfg's routing on one machine
# (plain HTTP on 127.0.0.1, static servers instead of Docker DNS, an admin socket).
global
    maxconn 4000
    stats socket {socket} mode 600 level admin
    log stdout format raw local0 notice
    hard-stop-after 30s

defaults
    mode http
    log global
    timeout connect 5s
    # A check answered later than this fails (the default is `inter`; a busy machine answers slowly).
    timeout check 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout tunnel 2h
    timeout client-fin 30s
    # A connection refused by a dead server is retried on another one.
    retries 3
    option redispatch 1

frontend public
    bind 127.0.0.1:{port}
    http-request del-header X-Forwarded-For
    http-request del-header X-Forwarded-Proto
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    acl carrier_media path_beg /ws/twilio/ /ws/plivo/
    use_backend streams if carrier_media
    default_backend web

{backends}"""

BACKEND_CFG = """
backend {name}
    balance leastconn
    option httpchk
    http-check send meth GET uri /ready ver HTTP/1.1 hdr Host localhost hdr X-Forwarded-Proto http
    http-check expect status 200
    default-server check inter {inter}ms fall 2 rise 2
{servers}
"""


class Proxy:
    """HAProxy in front of the web and streams processes, driven through its admin socket."""

    def __init__(self, webs: list[WebProcess], inter_ms: int, log_dir: Path) -> None:
        self.port = free_port()
        self.socket_path = log_dir / "haproxy.sock"
        backends = "".join(
            BACKEND_CFG.format(
                name=backend,
                inter=inter_ms,
                servers="\n".join(f"    server {w.name} 127.0.0.1:{w.port}" for w in webs if w.backend == backend),
            )
            for backend in MODULES
        )
        config = HAPROXY_CFG.format(socket=self.socket_path, port=self.port, backends=backends)
        self.config_path = log_dir / "haproxy.cfg"
        self.config_path.write_text(config)
        self.child = Child("haproxy", ["haproxy", "-db", "-f", str(self.config_path)], dict(os.environ), log_dir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def statuses(self) -> dict[str, str]:
        """Server name -> HAProxy status ("UP", "DOWN", "DRAIN", "MAINT", "UP 1/2"...)."""
        lines = self.admin("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        name_i, server_i, status_i = header.index("pxname"), header.index("svname"), header.index("status")
        result = {}
        for line in lines[1:]:
            cols = line.split(",")
            if len(cols) > status_i and cols[name_i] in MODULES and cols[server_i] not in ("BACKEND", "FRONTEND"):
                result[cols[server_i]] = cols[status_i]
        return result

    async def wait_status(self, server: str, predicate, what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status = (await asyncio.to_thread(self.statuses)).get(server, "")
            except OSError:
                status = ""
            if predicate(status):
                return status
            await asyncio.sleep(0.1)
        raise RuntimeError(f"proxy: {server} not {what} within {timeout} s")

    def set_state(self, server: WebProcess, state: str) -> None:
        self.admin(f"set server {server.backend}/{server.name} state {state}")


# --- callers --------------------------------------------------------------------------------------
@dataclass
class Caller:
    """One emulated Twilio caller and what happened to it."""

    phase: str
    placed_at: float
    call: object = None  # the emulator's TwilioCall
    greeted_at: float | None = None
    replied: bool = False
    ended_at: float | None = None

    @property
    def sid(self) -> str:
        return self.call.call_id

    @property
    def answered(self) -> bool:
        return self.call.stream_started.is_set() and self.greeted_at is not None

    @property
    def hung_up(self) -> bool:
        """Ended normally: the caller hung up (sent `stop`), not the socket closing under it."""
        return self.call.end_reason == "caller hung up"


async def run_caller(emulator, caller: Caller, pcm: bytes, seconds: float) -> None:
    """Ring, hear the greeting, ask one thing, hear the answer, stay on the line, hang up."""
    call = caller.call = emulator.place_call(NUMBER)
    try:
        await call.answered(timeout=20)
        if not call.stream_started.is_set():
            return
        await call.handset.next_reply(timeout=20)  # the greeting
        caller.greeted_at = time.monotonic()
        call.play_pcm(pcm)
        await call.handset.next_reply(timeout=20)
        caller.replied = True
    except TimeoutError:
        pass
    finally:
        left = caller.placed_at + seconds - time.monotonic()
        if left > 0 and not call.ended.is_set():
            try:
                await asyncio.wait_for(call.ended.wait(), left)
            except TimeoutError:
                pass
        if not call.ended.is_set():
            await call.hangup()
        caller.ended_at = time.monotonic()


class CallMill:
    """Keeps `n` calls in progress: starts the next one as one ends, spread evenly over a call's length."""

    def __init__(self, emulator, pcm: bytes, n: int, seconds: float) -> None:
        self.emulator, self.pcm, self.n, self.seconds = emulator, pcm, n, seconds
        self.phase = "start"
        self.callers: list[Caller] = []
        self.tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        spacing = self.seconds / self.n
        while not self._stop.is_set():
            if sum(not t.done() for t in self.tasks) < self.n:
                caller = Caller(self.phase, time.monotonic())
                self.callers.append(caller)
                self.tasks.append(
                    asyncio.create_task(run_caller(self.emulator, caller, self.pcm, self.seconds))
                )
                await asyncio.sleep(spacing)
            else:
                await asyncio.sleep(0.05)

    async def finish(self) -> None:
        """No new calls; wait until every call has ended (callers hang up at their time)."""
        self._stop.set()
        if self._task:
            await self._task
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def in_progress(self) -> int:
        return sum(c.call is not None and c.call.stream_started.is_set() and not t.done()
                   for c, t in zip(self.callers, self.tasks, strict=True))  # fmt: skip


# --- the database ---------------------------------------------------------------------------------
async def orm(fn, *args):
    """Run `fn` (ORM queries) on a worker thread and close that thread's connection after it, so no
    connection outlives the run (the test database is dropped at the end of a test session)."""

    def call():
        from django.db import connections

        try:
            return fn(*args)
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)


def prepare_agent() -> None:
    """The agent the calls reach (no concurrent-call cap in the way)."""
    from agents.models import Agent, PhoneNumber

    agent = Agent.objects.create(
        name="Rolling restart agent",
        system_prompt="You are a support agent for Example Corp.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
        max_concurrent_calls=100000,
    )
    PhoneNumber.objects.create(carrier="twilio", number=NUMBER, agent=agent)


def process_pid(process_name: str) -> int | None:
    """The pid in a `host:pid:start` process name."""
    parts = process_name.rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def live_calls_of(pid: int) -> list[str]:
    from calls.models import Call

    rows = Call.objects.filter(status__in=Call.LIVE_STATUSES).exclude(process="")
    return [r.carrier_call_id for r in rows.only("carrier_call_id", "process") if process_pid(r.process) == pid]


def rows_by_sid(sids: list[str]) -> dict[str, dict]:
    """For each call: status, reason, its process's pid, whether metrics were stored, its segments."""
    from calls.models import Call

    result = {}
    for call in Call.objects.filter(carrier_call_id__in=sids).prefetch_related("segments"):
        result[call.carrier_call_id] = {
            "status": call.status,
            "reason": call.end_reason,
            "pid": process_pid(call.process),
            "metrics": hasattr(call, "metrics"),
            "segments": [(s.speaker, s.text) for s in call.segments.all()],
        }
    return result


# --- the run --------------------------------------------------------------------------------------
@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def say(self, line: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f} s] {line}"
        self.lines.append(line)
        print(line, flush=True)

    def check(self, ok: bool, what: str) -> None:
        self.say(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            self.failures.append(what)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def restart(proxy: Proxy, web: WebProcess, report: Report, drain_seconds: float, prestop: bool) -> None:
    """Out of the proxy, SIGTERM, drained and exited 0, started again, back in the proxy."""
    t0 = time.monotonic()
    live = await orm(live_calls_of, web.child.pid)
    if prestop:  # what a preStop pause gives an ingress: no new connections, the live ones go on
        await asyncio.to_thread(proxy.set_state, web, "drain")
    web.child.process.send_signal(signal.SIGTERM)
    ready = None
    for _ in range(50):
        ready = await web.ready_status()
        if ready == 503 or web.child.process.poll() is not None:
            break
        await asyncio.sleep(0.1)
    down = await proxy.wait_status(web.name, lambda s: s.startswith("DOWN"), "down", drain_seconds)
    code = await asyncio.to_thread(web.child.process.wait, drain_seconds + 30)
    drained = time.monotonic() - t0
    web.start()
    await web.wait_ready()
    await asyncio.to_thread(proxy.set_state, web, "ready")
    await proxy.wait_status(web.name, lambda s: s == "UP", "up")
    report.say(
        f"restart {web.name}: {len(live)} live call(s); /ready {ready} after SIGTERM, proxy {down!r}; "
        f"exit {code} after {drained:.1f} s; back up after {time.monotonic() - t0:.1f} s"
    )
    report.check(ready in (503, None), f"{web.name} reported not ready while draining")
    report.check(code == 0, f"{web.name} drained and exited 0 (exit {code})")


async def kill_one(webs: list[WebProcess], mill: CallMill, settled: float, report: Report
                   ) -> tuple[int, list[str], float]:  # fmt: skip
    """SIGKILL the process of `webs` holding the most calls that had time to store the greeting.

    A call greeted at least `settled` seconds ago has stored its transcript so far (it is saved every
    TRANSCRIPT_SAVE_SECONDS), so "kept what was said" is checked on it. Waits up to 30 s for one.
    Returns the victim's pid, its live calls and when it was killed.
    """
    greeted = {c.sid: c.greeted_at for c in mill.callers if c.call is not None}
    deadline = time.monotonic() + 30
    while True:
        now = time.monotonic()
        scores = []
        for web in webs:
            live = await orm(live_calls_of, web.child.pid)
            settled_calls = sum(1 for sid in live if (greeted.get(sid) or now) < now - settled)
            scores.append((settled_calls, len(live), web))
        best = max(scores, key=lambda s: (s[0], s[1]))
        if best[0] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
        greeted = {c.sid: c.greeted_at for c in mill.callers if c.call is not None}
    victim = best[2]
    pid = victim.child.pid
    live = await orm(live_calls_of, pid)
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    victim.child.process.wait()
    report.say(f"SIGKILL {victim.name} (pid {pid}) holding {len(live)} live call(s)")
    return pid, live, killed_at


async def wait_marked(sids: list[str], killed_at: float, timeout: float) -> float | None:
    """Seconds from the kill until every one of `sids` is marked "process ended", or None."""
    from calls.models import Call
    from calls.recovery import PROCESS_ENDED

    def marked() -> bool:
        return Call.objects.filter(carrier_call_id__in=sids, end_reason=PROCESS_ENDED).count() == len(sids)

    while time.monotonic() - killed_at < timeout:
        if await orm(marked):
            return time.monotonic() - killed_at
        await asyncio.sleep(0.5)
    return None


async def wait_stored(sids: list[str], timeout: float = 60.0) -> dict[str, dict]:
    """The rows of `sids` once none is live and every one has its metrics (or `timeout` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await orm(rows_by_sid, sids)
        done = len(rows) == len(sids) and all(
            r["status"] not in ("ringing", "in_progress") and r["metrics"] for r in rows.values()
        )
        if done or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.5)


def child_env(options: Options, db_url: str, redis_url: str, gemini_env: dict, emulator, proxy_url: str,
              data_dir: str) -> dict[str, str]:  # fmt: skip
    env = {
        **os.environ,
        **gemini_env,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": data_dir,
        "PUBLIC_BASE_URL": proxy_url,
        "TWILIO_ACCOUNT_SID": emulator.account_sid,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_API_BASE_URL": emulator.rest_url,
        "DRAIN_SECONDS": str(options.drain_seconds),
        "TRANSCRIPT_SAVE_SECONDS": str(options.transcript_save_seconds),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }
    if options.heartbeat_seconds is not None:
        env["PROCESS_HEARTBEAT_SECONDS"] = str(options.heartbeat_seconds)
    if options.stale_seconds is not None:
        env["PROCESS_STALE_SECONDS"] = str(options.stale_seconds)
    return env


async def housekeeping_loop(env: dict[str, str], log_dir: Path, every: float = 2.0) -> None:
    """`manage.py housekeeping` again and again (the embedded way to sweep; quicker than beat's 15 s)."""
    while True:
        child = Child("housekeeping", [sys.executable, "manage.py", "housekeeping"], env, log_dir)
        try:
            await asyncio.to_thread(child.process.wait)
        finally:
            child.stop()
        await asyncio.sleep(every)


async def run(options: Options, db_url: str, redis_url: str) -> Report:
    """Run the topology, the calls, the restarts and the kill; check everything; stop every process.

    Django in this process must already use `db_url` (the rows are read through the ORM).
    """
    import redis
    from django.conf import settings

    from bench.common import EmulatorProcess
    from emulators.twilio.emulator import TwilioEmulator
    from emulators.twilio.phone import flite_pcm

    report = Report()
    log_dir = options.log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    redis.Redis.from_url(redis_url).flushdb()  # no stale jobs or channel groups from an earlier run
    await orm(prepare_agent)
    pcm = await asyncio.to_thread(flite_pcm, "hello can you hear me")

    children: list[Child] = []
    webs: list[WebProcess] = []
    gemini = None
    emulator = TwilioEmulator("http://127.0.0.1:1", auth_token=TWILIO_TOKEN, jitter_ms=60)
    sweeper: asyncio.Task | None = None
    mill: CallMill | None = None
    loads: list[float] = []
    streaming: list[int] = []  # calls with a live media stream, sampled every 2 s
    sampler: asyncio.Task | None = None
    try:
        gemini = EmulatorProcess(profile="bench", max_sessions=10000)
        await emulator.start_rest()
        proxy_port_holder = [WebProcess(f"web{i + 1}", {}, log_dir) for i in range(options.web_processes)] + [
            WebProcess(f"streams{i + 1}", {}, log_dir, "streams") for i in range(options.stream_processes)
        ]
        proxy = Proxy(proxy_port_holder, options.check_inter_ms, log_dir)
        children.append(proxy.child)
        env = child_env(options, db_url, redis_url, gemini.env(), emulator, proxy.url, str(settings.DATA_DIR))
        webs = proxy_port_holder
        for web in webs:
            web.env = env
            web.start()
        celery = [sys.executable, "-m", "celery", "-A", "contactcenter"]
        children.append(Child("worker", celery + ["worker", "--pool=threads", "-c", "4", "--loglevel=INFO",
                                                  "--without-gossip", "--without-mingle", "--without-heartbeat"],
                              env, log_dir))  # fmt: skip
        if options.sweeper == "beat":
            schedule = str(log_dir / "beat-schedule")
            children.append(Child("beat", celery + ["beat", "-s", schedule, "--loglevel=INFO"], env, log_dir))
        else:
            sweeper = asyncio.create_task(housekeeping_loop(env, log_dir))
        for web in webs:
            await web.wait_ready()
        for web in webs:
            await proxy.wait_status(web.name, lambda s: s == "UP", "up")
        emulator.app_url = emulator.public_url = proxy.url
        emulator.voice_url = proxy.url + "/twilio/voice/"
        emulator.status_url = proxy.url + "/twilio/status/"
        report.say(
            f"topology: HAProxy {proxy.url} -> {', '.join(f'{w.name} :{w.port}' for w in webs)}; "
            f"PostgreSQL {db_url.rsplit('/', 1)[-1]}; Redis {redis_url}; Celery worker + "
            f"{options.sweeper}; Gemini emulator; logs in {log_dir}"
        )

        async def sample_load() -> None:
            while True:
                loads.append(load_average())
                streaming.append(mill.in_progress())
                await asyncio.sleep(2.0)

        sampler = asyncio.create_task(sample_load())
        mill = CallMill(emulator, pcm, options.calls, options.call_seconds)
        mill.start()
        t_start = time.monotonic()
        first = lambda: mill.callers[: options.calls]  # noqa: E731
        while time.monotonic() - t_start < options.call_seconds + 30 and (  # noqa: ASYNC110
            len(first()) < options.calls or not all(c.greeted_at or c.ended_at for c in first())
        ):
            await asyncio.sleep(0.2)  # polls the callers' state
        report.say(f"{options.calls} calls going on: {mill.in_progress()} with a live media stream")

        for web in webs:
            mill.phase = f"restart {web.name}"
            await restart(proxy, web, report, options.drain_seconds, options.prestop)
        mill.phase = "kill"
        holders = [w for w in webs if w.backend == "streams"]  # the calls live where their media socket is
        killed_pid, killed_sids, killed_at = await kill_one(holders, mill, options.transcript_save_seconds + 1, report)
        marked_after = await wait_marked(killed_sids, killed_at, MARK_LIMIT_SECONDS + 30)
        mill.phase = "after kill"
        await asyncio.sleep(3.0)
        await mill.finish()
        sampler.cancel()

        # --- the checks --------------------------------------------------------------------------
        callers = mill.callers
        sids = [c.sid for c in callers if c.call is not None]
        # The calls it held: live when it was killed (and any it took in the instant before), as marked.
        rows = await orm(rows_by_sid, sids)
        killed = set(killed_sids) | {
            sid for sid, r in rows.items() if r["pid"] == killed_pid and r["reason"] == "process ended"
        }
        rows.update(await wait_stored([sid for sid in sids if sid not in killed]))
        survivors = [c for c in callers if c.sid not in killed]
        unanswered = [c for c in survivors if not c.answered]
        dropped = [
            c for c in survivors
            if c.answered and (not c.hung_up or rows.get(c.sid, {}).get("status") != "completed")
        ]  # fmt: skip
        lost = [
            c for c in survivors
            if c.answered and (c.sid not in rows or not rows[c.sid]["metrics"]
                               or not any(s == "agent" for s, _ in rows[c.sid]["segments"]))
        ]  # fmt: skip
        # A call the caller hung up is stored as such: not left running in its process until a drain or a
        # timeout ended it (what happens when daphne kills a consumer that did not end its call in time).
        late = [
            c for c in survivors
            if c.answered and c.hung_up and rows.get(c.sid, {}).get("reason") != "caller hung up"
        ]  # fmt: skip
        refused = [sid for sid, r in rows.items() if r["status"] == "failed" and sid not in killed]
        phases: dict[str, list[int]] = {}
        for c in survivors:
            counts = phases.setdefault(c.phase, [0, 0])
            counts[0] += 1
            counts[1] += c.answered
        killed_rows = [rows.get(sid) for sid in killed_sids]
        save_s = options.transcript_save_seconds
        old_enough = [
            sid for sid in killed_sids
            if (c := next((c for c in callers if c.sid == sid), None)) and c.greeted_at
            and c.greeted_at < killed_at - save_s - 1
        ]  # fmt: skip
        kept = [sid for sid in old_enough if any(s == "agent" for s, _ in rows[sid]["segments"])]

        report.say(f"calls: {len(callers)} placed, {len(killed)} on the killed process, {len(survivors)} others")
        report.say("new calls answered per phase: " + "; ".join(f"{p} {a}/{n}" for p, (n, a) in phases.items()))
        report.check(not dropped, f"calls dropped by the restarts: {len(dropped)} "
                                  f"{[(c.sid, c.call.end_reason, rows.get(c.sid, {}).get('status')) for c in dropped][:5]}")  # fmt: skip
        report.check(not lost, f"records lost: {len(lost)} {[c.sid for c in lost][:5]}")
        report.check(
            not late,
            f"calls stored as ended by the caller's hangup: {len(late)} not "
            f"{[(c.sid, rows.get(c.sid, {}).get('reason')) for c in late][:5]}",
        )
        report.check(
            not unanswered and not refused,
            f"new calls answered throughout: {len(unanswered)} unanswered, {len(refused)} refused "
            f"{[(c.phase, c.call.end_reason, c.call.errors[:1]) for c in unanswered][:5]}",
        )
        report.check(bool(killed_sids), f"the killed process held {len(killed_sids)} live call(s)")
        report.check(
            marked_after is not None and marked_after <= MARK_LIMIT_SECONDS
            and all(r and r["status"] == "failed" for r in killed_rows),
            'its calls marked failed "process ended" '
            + (f"{marked_after:.1f} s after the kill" if marked_after is not None else "never"),
        )  # fmt: skip
        report.check(
            bool(old_enough) and len(kept) == len(old_enough),
            f"their transcript so far kept: {len(kept)}/{len(old_enough)} call(s) greeted more than "
            f"{save_s + 1:.0f} s before the kill have the agent's lines stored",
        )
        report.say(f"calls with a live media stream during the run: mean {sum(streaming) / max(1, len(streaming)):.1f}, "
                   f"max {max(streaming, default=0)} (a call that ends makes room for the next, which rings first)")  # fmt: skip
        report.say(f"load average during the run: max {max(loads, default=0):.2f}, "
                   f"mean {sum(loads) / max(1, len(loads)):.2f} (this machine: {os.cpu_count()} cores)")  # fmt: skip
        report.figures.update(
            calls=len(callers), killed=len(killed_sids), dropped=len(dropped), lost=len(lost), late=len(late),
            unanswered=len(unanswered), marked_after=marked_after if marked_after is not None else -1.0,
            load_max=max(loads, default=0.0),
        )  # fmt: skip
        return report
    finally:
        if sampler:
            sampler.cancel()
        if mill and mill._task and not mill._task.done():
            mill._stop.set()
        for task in mill.tasks if mill else []:
            task.cancel()
        if sweeper:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        for web in webs:
            if web.child:
                web.child.stop(grace=5)
        for child in children:
            child.stop(grace=5)
        if gemini:
            gemini.stop()
        try:
            await asyncio.wait_for(emulator.close(), 15)
        except (TimeoutError, Exception):  # noqa: BLE001 - the processes are already stopped
            pass


def create_database(server_url: str, name: str) -> str:
    """Drop and create `name` on the PostgreSQL server of `server_url`; returns the database's URL."""
    import psycopg

    with psycopg.connect(server_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30, help="calls kept in progress")
    parser.add_argument("--call-seconds", type=float, default=20.0, help="length of each call")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--no-prestop",
        action="store_true",
        help="SIGTERM without first taking the server out of the proxy: new calls that reach it before "
        "the /ready check does hear the busy prompt (shows the window a preStop pause closes)",
    )
    parser.add_argument("--database", default="cc_rolling", help="dropped and created by the run")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/7",
                        help="its DB is flushed")  # fmt: skip
    args = parser.parse_args()
    db_url = create_database(args.postgres, args.database)
    os.environ["DATABASE_URL"] = db_url
    os.environ["REDIS_URL"] = args.redis
    from bench.common import setup_django

    setup_django()
    options = Options(calls=args.calls, call_seconds=args.call_seconds, prestop=not args.no_prestop)
    report = asyncio.run(run(options, db_url, args.redis))
    if report.failures:
        print(f"FAILED: {len(report.failures)} check(s)")
        sys.exit(1)
    print("rolling restart: every check passed")


if __name__ == "__main__":
    main()
