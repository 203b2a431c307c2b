"""The project against Pipecat, side by side in one run: the same Twilio callers, the same Gemini stand-in.

    .venv/bin/python bench/vs_pipecat.py [--levels 1,10,30] [--seconds 40] [--one-call-seconds 100]
                                         [--no-barge-in] [--daphne]
                                         [--vary GEMINI_INPUT_BATCH_MS=40,100] [--no-pipecat] [--broker]
                                         [--no-plivo] [--no-rtp] [--pipecat-up-to 30] [--together]

Processes, one each: the Gemini stand-in (`manage.py gemini_emulator --profile bench` with
`bench/neutral_scenario.json`: energy VAD, every reply the same ~2 s sentence, a barge-in once 40 ms of
caller speech have arrived), the project (one `python -m contactcenter.streams`, the uvicorn process that holds
production's media streams, DEBUG off, reached through its signed voice webhook, then the Media Stream;
`--daphne` adds the same in daphne; embedded mode, storing in-process, unless `--broker`) and Pipecat 1.14 as its examples build it (`bench/pipecat_bot.py`: uvicorn + FastAPI
WebSocket transport + Twilio serializer + Gemini Live service; installed into `.pipecat-venv` on first
use). This process is the Twilio emulator: per call, 20 ms frames both ways on real-time clocks; each
caller says a 2.5 s phrase, then stays quiet 3.5 s, in a loop, each at its own phase of that 6 s cycle
(evenly spread over the N callers, as independent callers' phrases are; `--together` starts them all
right after the greeting, a burst of N turn ends per cycle). Both servers ask the stand-in for the same
end-of-turn silence (300 ms). The project also gets a Plivo row (`--no-plivo` skips it): the same
callers from the Plivo emulator (V3-signed answer webhook, then the Audio Stream) into the same process,
and an RTP row (`--no-rtp`; `bench/rtp_side.py`): the same callers as Asterisk phones, through
`manage.py runasterisk` over ARI and externalMedia RTP (u-law) against the Asterisk emulator.

For each level N it runs N calls through each server in turn and prints, over the calls' steady state:
- CPU per call (% of one core: the server process's user+system time / N / wall time),
- RSS per call (peak RSS with N calls minus idle RSS, / N),
- reply p50 / p95: from the end of the caller's phrase to the first agent audio reaching the caller,
  and p50 minus the stand-in's own floor (the same measured straight on its API with the SDK, fed 8 kHz
  in 20 ms messages as both servers feed it),
- audio returned: agent audio received per call, as a share of what the stand-in sent for the turns,
- barge-in (a second pass, on by default; `--no-barge-in` skips it): the caller speaks over each reply
  300 ms after it starts; `clear` p50 from the caller's first frame of that speech to the `clear`
  reaching it, the same minus the stand-in's own time from speech to `interrupted`, and the agent audio
  that still arrived after the `clear` (`clear_latencies` says why from the first frame).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    ROOT,
    EmulatorProcess,
    percentile,
    proc_cpu_seconds,
    proc_rss_mb,
    setup_django,
)
from bench.rtp_side import RtpSide, prepare_rtp_db  # noqa: E402
from tests.support.live import free_port  # noqa: E402

VENV = ROOT / ".pipecat-venv"
PIPECAT = ("pipecat-ai[websocket,google]==1.14.0", "uvicorn[standard]")
SCENARIO = ROOT / "bench" / "neutral_scenario.json"
NUMBER = "+15005550006"
TOKEN = "bench-carrier-token"  # Twilio's auth token and Plivo's (each signs its own webhooks)
PLIVO_ID = "MA" + "B" * 18
SILENCE_MS = 300
SPEECH_S = 2.5
QUIET_S = 3.5
BARGE_AFTER_S = 0.3
GREETING_S = 3.0  # the project's greeting (Pipecat says none): callers wait this long before speaking
TOGETHER = False  # --together: every caller's first phrase right after the greeting, not at its own phase
LOUD = 500.0  # RMS of a 20 ms frame that counts as speech (the stand-in's replies are far above)


# --- the two servers ---------------------------------------------------------------------------------
def ensure_pipecat() -> Path:
    """Pipecat in its own virtualenv, so none of its dependencies touch the project's."""
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    if not marker.exists():
        print(f"installing {' '.join(PIPECAT)} into {VENV} (first use only; a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PIPECAT], check=True)
        marker.touch()
    return python


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:g} s")


@dataclass
class Server:
    name: str
    pid: int
    url: str
    voice_path: str
    status_path: str
    stop: object
    # Processes doing this server's work off its media path (a Celery worker): their CPU is shown apart.
    helper_pids: tuple[int, ...] = ()
    carrier: str = "twilio"  # whose callers this row gets: "twilio" or "plivo" (the project only)


def spawn(argv: list[str], env: dict[str, str], port: int, log_name: str, what: str) -> tuple[int, object]:
    """Start a server process listening on `port` (output to DATA_DIR/<log_name>); its pid and a stop()."""
    log = open(Path(os.environ["DATA_DIR"]) / log_name, "wb")  # noqa: SIM115 - the child's lifetime
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, proc, what)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    return proc.pid, stop


def start_project(
    gemini: EmulatorProcess,
    emulator,
    server: str = "streams",
    settings_env: dict | None = None,
    name: str = "",
    broker: str = "",
    plivo_rest: str = "",
) -> Server:
    """The project as production serves a media stream: `python -m contactcenter.streams` (uvicorn), or
    `server` "daphne" (`python -m contactcenter.serve`, the web process and embedded `./run`); the
    webhook goes to the same process here. `settings_env`: settings for this row (`--vary`). `broker`: a
    Redis URL: production's hand-off (REDIS_URL: Celery broker, channel layer) with a Celery worker
    process storing what the calls leave; without it the embedded mode stores them in-process.
    `plivo_rest`: the Plivo emulator's REST URL, for the Plivo row's calls in the same process."""
    from django.conf import settings

    from tests.support.live import start_daphne

    db_url = f"sqlite:///{settings.DATABASES['default']['NAME']}"
    env = {
        **gemini.env(),
        "DEBUG": "0",
        "TWILIO_ACCOUNT_SID": emulator.account_sid,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": emulator.rest_url,
        "PLIVO_AUTH_ID": PLIVO_ID,
        "PLIVO_AUTH_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
        **({"PLIVO_API_BASE_URL": plivo_rest} if plivo_rest else {}),
        **(settings_env or {}),
    }
    helpers: list[int] = []
    if broker:
        env["REDIS_URL"] = broker
        worker_env = {**os.environ, **env, "DATABASE_URL": db_url}
        log = open(Path(settings.DATA_DIR) / f"worker-{name or 'project'}.log", "wb")  # noqa: SIM115
        argv = [sys.executable, "-m", "celery", "-A", "contactcenter", "worker", "--pool=threads", "-c", "4"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"]
        worker = subprocess.Popen(argv, cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
        helpers.append(worker.pid)
    live = start_daphne(db_url, Path(settings.DATA_DIR) / "logs", env, server)

    def stop() -> None:
        live.stop()
        for pid in helpers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    return Server(
        name or "project",
        live.process.pid,
        live.url,
        "/twilio/voice/",
        "/twilio/status/",
        stop,
        helper_pids=tuple(helpers),
    )


def start_pipecat(python: Path, gemini: EmulatorProcess) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "GEMINI_API_KEY": gemini.api_key,
        "GEMINI_BASE_URL": gemini.base_url,
        "SSL_CERT_FILE": gemini.ca_file,  # the stand-in's CA, through OpenSSL's default verify paths
        "BENCH_SILENCE_MS": str(SILENCE_MS),
    }
    argv = [str(python), str(ROOT / "bench" / "pipecat_bot.py"), "--port", str(port)]
    pid, stop = spawn(argv, env, port, "pipecat.log", "the Pipecat bot")
    return Server("pipecat", pid, f"http://127.0.0.1:{port}", "/", "/status", stop)


# --- what each caller saw --------------------------------------------------------------------------------
@dataclass
class Ear:
    """Times of the caller's phrases and of the agent audio and `clear`s reaching it (monotonic)."""

    speech_starts: list[float] = field(default_factory=list)
    speech_ends: list[float] = field(default_factory=list)
    loud: list[float] = field(default_factory=list)  # arrival of each agent frame with speech in it
    agent_seconds: float = 0.0
    clears: list[float] = field(default_factory=list)
    barge_starts: list[float] = field(default_factory=list)
    spoke: asyncio.Event = field(default_factory=asyncio.Event)  # set by the next loud agent frame


def attach_ear(call) -> Ear:
    """Wrap the emulator call's handset and playout to time speech and arrivals (bench-only hooks)."""
    import numpy as np

    from emulators.wire.g711 import decode_ulaw

    ear = Ear()
    handset, playout = call.handset, call.playout
    next_frame, add_audio, clear = handset.next_frame, playout.add_audio, playout.clear

    def timed_next_frame(size: int = 160) -> bytes:
        was = handset.speaking
        if was and (not ear.speech_starts or ear.speech_starts[-1] < (ear.speech_ends or [0.0])[-1]):
            ear.speech_starts.append(time.monotonic())
        frame = next_frame(size)
        if was and not handset.speaking:
            ear.speech_ends.append(time.monotonic())
        return frame

    def timed_add_audio(ulaw: bytes, now: float) -> None:
        pcm = np.frombuffer(decode_ulaw(ulaw), dtype="<i2").astype(np.float32)
        ear.agent_seconds += len(ulaw) / 8000
        if pcm.size and float(np.sqrt(np.mean(pcm * pcm))) > LOUD:
            ear.loud.append(now)
            ear.spoke.set()
        add_audio(ulaw, now)

    def timed_clear() -> list[str]:
        ear.clears.append(time.monotonic())
        return clear()

    handset.next_frame = timed_next_frame
    playout.add_audio = timed_add_audio
    playout.clear = timed_clear
    return ear


def first_after(times: list[float], start: float, end: float) -> float | None:
    return next((t for t in times if start <= t < end), None)


def reply_latencies(ear: Ear) -> list[float]:
    """Per caller phrase: end of the phrase to the first loud agent frame before the next phrase."""
    out = []
    starts = ear.speech_starts + [float("inf")]
    for end in ear.speech_ends:
        nxt = next((s for s in starts if s > end), float("inf"))
        first = first_after(ear.loud, end, nxt)
        if first is not None:
            out.append((first - end) * 1000)
    return out


def first_phrase_delay(i: int, n: int) -> float:
    """Seconds from caller i's answer (of n) to its first phrase: the greeting, then its own share of
    the speak-and-listen cycle, so the n callers' phrases end at evenly spread moments as independent
    callers' do. With --together every caller starts right after the greeting: their phrases then end
    within the calls' set-up spread (1–2 s at 100 calls), and the stand-in and the server meet N turn
    ends, and N replies, at once."""
    return GREETING_S + (0.0 if TOGETHER else (SPEECH_S + QUIET_S) * i / n)


async def caller(
    call, ear: Ear, speech: bytes, barge: bytes, seconds: float, barge_in: bool, delay: float
) -> int:
    """Speak, listen, repeat; with barge_in, speak over each reply. Returns the phrases said."""
    await call.answered()
    end = time.monotonic() + GREETING_S + seconds  # the same for every caller, whatever its phase
    await asyncio.sleep(delay)
    said = 0
    while time.monotonic() < end and not call.ended.is_set():
        call.play_pcm(speech)
        said += 1
        await call.handset.finished_speaking()
        if barge_in:
            ear.spoke.clear()
            try:
                await asyncio.wait_for(ear.spoke.wait(), 3.0)  # the reply starts
            except TimeoutError:
                pass
            await asyncio.sleep(BARGE_AFTER_S)
            ear.barge_starts.append(time.monotonic())
            call.play_pcm(barge)
            await call.handset.finished_speaking()
        await asyncio.sleep(QUIET_S)
    return said


def clear_latencies(ear: Ear) -> tuple[list[float], float, list[float]]:
    """Per barge-in, the caller's first frame of speech over the reply to the `clear` reaching it (ms);
    the agent speech (s) that arrived after a clear, before the caller's barge-in phrase ended (a reply
    to the barge-in itself comes after that); and how long each barge-in phrase waited for the caller's
    next 20 ms frame (ms).

    Timed from the first frame, not from when the caller chose to speak: the callers start speaking a
    fixed time after a reply's first loud frame reached them, so that wait (0 to 20 ms) follows the
    phase of the server's own sends against the callers' frame clock, and differs between servers for
    no reason a real caller, whose speech starts at any instant, would meet."""
    lat, after, waits = [], 0.0, []
    for chose in ear.barge_starts:
        start = first_after(ear.speech_starts, chose, chose + 1.0)
        c = first_after(ear.clears, chose, chose + 3.0)
        if c is None or start is None:
            continue
        lat.append((c - start) * 1000)
        waits.append((start - chose) * 1000)
        until = first_after(ear.speech_ends, start, start + 5.0) or start + 1.5
        after += sum(0.02 for t in ear.loud if c < t < until)
    return lat, after, waits


# --- one level ---------------------------------------------------------------------------------------------
async def run_level(
    emulator, server: Server, n: int, seconds: float, speech: bytes, barge: bytes, barge_in: bool
) -> dict:
    emulator.app_url = emulator.public_url = server.url
    if server.carrier == "plivo":  # its answer and hangup URLs are app_url + these paths
        emulator.answer_path, emulator.hangup_path = server.voice_path, server.status_path
    else:
        emulator.voice_url = server.url + server.voice_path
        emulator.status_url = server.url + server.status_path
    idle_rss = proc_rss_mb(server.pid)
    calls = [emulator.place_call(NUMBER) for _ in range(n)]
    ears = [attach_ear(c) for c in calls]
    tasks = [
        asyncio.create_task(caller(c, e, speech, barge, seconds, barge_in, first_phrase_delay(i, n)))
        for i, (c, e) in enumerate(zip(calls, ears, strict=True))
    ]
    usage = await steady_usage(
        server.pid, server.helper_pids, n, idle_rss, lambda: all(t.done() for t in tasks)
    )
    phrases = sum(t.result() for t in tasks if not t.exception())
    await asyncio.gather(*(c.hangup("bench over") for c in calls), return_exceptions=True)
    await asyncio.sleep(2.0)
    clears, after, waits = [], 0.0, []
    for e in ears:
        lat, a, w = clear_latencies(e)
        clears += lat
        after += a
        waits += w
    return figures(
        ears,
        phrases,
        clears,
        n=n,
        streams=sum(c.stream_started.is_set() for c in calls),
        **usage,
        after_clear_s=after,
        errors=sum(len(c.errors) for c in calls),
        frame_wait=percentile(waits, 50) if waits else None,
    )


async def steady_usage(
    pid: int, helper_pids: tuple[int, ...], n: int, idle_rss: float, done: Callable[[], bool]
) -> dict:
    """What a server process spent over a level's steady part, from 4 s after its calls were placed
    (set-up and greetings left out) until `done()`: CPU in % of a core per call, its helpers' (a Celery
    worker) apart, and peak RSS above `idle_rss` in MB per call."""
    await asyncio.sleep(4.0)
    cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
    helper0 = sum(proc_cpu_seconds(p) for p in helper_pids)
    rss_peak = 0.0
    while not done():
        rss_peak = max(rss_peak, proc_rss_mb(pid))
        await asyncio.sleep(0.5)
    cpu, wall = proc_cpu_seconds(pid) - cpu0, time.monotonic() - t0
    helper = sum(proc_cpu_seconds(p) for p in helper_pids) - helper0
    return {
        "cpu": 100 * cpu / wall / n,
        "helper_cpu": 100 * helper / wall / n if helper_pids else None,
        "rss": max(0.0, rss_peak - idle_rss) / n,
    }


def figures(ears: list[Ear], phrases: int, clears: list[float], **measured) -> dict:
    """A row's figures (the keys `row` prints): reply and `clear` times from what its callers heard, and
    what the row measured itself (n, streams, cpu, helper_cpu, rss, after_clear_s, errors)."""
    replies = [ms for e in ears for ms in reply_latencies(e)]
    firsts = [e.speech_ends[0] for e in ears if e.speech_ends]
    return {
        **measured,
        "ends_spread_ms": (percentile(firsts, 95) - percentile(firsts, 5)) * 1000 if len(firsts) > 1 else 0.0,
        "p50": percentile(replies, 50),
        "p95": percentile(replies, 95),
        "replies": len(replies),
        "phrases": phrases,
        "agent_s": sum(e.agent_seconds for e in ears) / measured["n"],
        "clear_p50": percentile(clears, 50),
    }


async def engine_reply_ms(since: datetime.datetime, n: int, wait_s: float = 20.0) -> float | None:
    """The project's own view of its reply time, median over the level's calls of their mean (the
    engine times each turn from the caller's last voiced frame to Gemini's first audio, and stores it
    with the call): the rest of the callers' reply time is the media path's, both ways."""
    from calls.models import CallMetrics

    def rows() -> list[float]:
        return list(
            CallMetrics.objects.filter(call__started_at__gte=since, mean_turn_latency_ms__isnull=False)
            .values_list("mean_turn_latency_ms", flat=True)
        )

    found = await asyncio.to_thread(rows)
    for _ in range(int(wait_s)):  # the calls are stored by Celery, a little after they end
        if len(found) >= n:
            break
        await asyncio.sleep(1.0)
        found = await asyncio.to_thread(rows)
    return percentile(found, 50) if found else None


async def loop_lag(lags: list[float], every_s: float = 0.02) -> None:
    """How late this process's event loop wakes a 20 ms timer (ms), until cancelled: the callers' ears
    time what they hear on this loop, so a late loop shows up in the reply and `clear` times too."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every_s
        await asyncio.sleep(every_s)
        lags.append((loop.time() - due) * 1000)


def first_loud(pcm: bytes, frame: int) -> int | None:
    """Sample offset of the first 20 ms frame (`frame` samples) of 16-bit PCM above LOUD, the test the
    callers' ears use; None when the chunk is quiet."""
    import numpy as np

    samples = np.frombuffer(pcm[: len(pcm) // (2 * frame) * 2 * frame], dtype="<i2").astype(np.float32)
    if not samples.size:
        return None
    frames = samples.reshape(-1, frame)
    loud = np.flatnonzero(np.sqrt(np.mean(frames * frames, axis=1)) > LOUD)
    return int(loud[0]) * frame if loud.size else None


# --- the stand-in's own floor ------------------------------------------------------------------------------
async def stand_in_floor(
    gemini: EmulatorProcess, speech: bytes, barge: bytes, turns: int = 5
) -> tuple[float, float]:
    """The stand-in's own reply and barge-in times, straight on its Live API (the SDK, no bridge), fed what
    both bridges send it: 8 kHz PCM in real-time 20 ms messages. Reply: end of a phrase to the first loud
    reply audio; barge-in: the start of speech over a reply (BARGE_AFTER_S after its first loud audio) to
    `interrupted`. What a bridge adds is its callers' time minus these (medians of `turns` turns)."""
    import ssl

    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key=gemini.api_key,
        http_options=types.HttpOptions(
            base_url=gemini.base_url,
            async_client_args={"ssl": ssl.create_default_context(cafile=gemini.ca_file), "compression": None},
        ),
    )
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        realtime_input_config=types.RealtimeInputConfig(
            automatic_activity_detection=types.AutomaticActivityDetection(silence_duration_ms=SILENCE_MS)
        ),
    )
    chunk = 320  # 20 ms at 8 kHz
    silence = b"\x00" * chunk
    replies: list[float] = []
    barges: list[float] = []
    async with client.aio.live.connect(model="gemini-3.8-live", config=config) as session:
        first_audio = asyncio.Event()
        interrupted = asyncio.Event()
        got: list[float] = []
        cut: list[float] = []

        async def receive() -> None:
            # A reply's audio comes faster than real time; played from its first chunk's arrival at real
            # time (as the bridges do), its first loud frame is heard `offset` seconds into the reply.
            turn_start, offset = None, 0.0
            while True:
                async for msg in session.receive():
                    content = msg.server_content
                    if content and content.interrupted:
                        cut.append(time.monotonic())
                        interrupted.set()
                    if content and content.turn_complete:
                        turn_start, offset = None, 0.0
                    if not msg.data or first_audio.is_set():
                        continue
                    turn_start = turn_start or time.monotonic()
                    loud = first_loud(msg.data, 480)
                    if loud is None:
                        offset += len(msg.data) / 2 / 24000
                        continue
                    got.append(turn_start + offset + loud / 24000)
                    first_audio.set()

        reader = asyncio.create_task(receive())
        clock = time.monotonic()

        async def send(pcm: bytes) -> float:
            """Send in real time; returns when the first 20 ms went out."""
            nonlocal clock
            first = 0.0
            for i in range(0, len(pcm), chunk):
                clock += 0.02
                await asyncio.sleep(max(0.0, clock - time.monotonic()))
                first = first or time.monotonic()
                blob = types.Blob(data=pcm[i : i + chunk], mime_type="audio/pcm;rate=8000")
                await session.send_realtime_input(audio=blob)
            return first

        async def until(event: asyncio.Event, limit: float) -> None:
            stop = time.monotonic() + limit
            while not event.is_set() and time.monotonic() < stop:
                await send(silence)

        for turn in range(2 * turns):
            first_audio.clear()
            await send(speech)
            end = time.monotonic()
            await until(first_audio, 5.0)
            if not got or got[-1] < end:
                continue
            if turn % 2 == 0:  # a turn answered in full
                replies.append((got[-1] - end) * 1000)
            else:  # a turn spoken over
                await send(silence * int((got[-1] + BARGE_AFTER_S - time.monotonic()) / 0.02))
                interrupted.clear()
                start = await send(barge)  # timed from its first frame, as the callers' barge-ins are
                await until(interrupted, 3.0)
                if interrupted.is_set():
                    barges.append((cut[-1] - start) * 1000)
            await send(silence * int(QUIET_S / 0.02))
        reader.cancel()
    return percentile(replies, 50), percentile(barges, 50)


# --- main ---------------------------------------------------------------------------------------------------
def prepare_db() -> None:
    from agents.models import Agent, PhoneNumber

    agent = Agent.objects.create(
        name="Bench agent",
        system_prompt="You are a benchmark agent.",
        greeting="Hello.",
        silence_duration_ms=SILENCE_MS,
        max_concurrent_calls=100000,
    )
    PhoneNumber.objects.create(carrier="twilio", number=NUMBER, agent=agent)
    PhoneNumber.objects.create(carrier="plivo", number=NUMBER, agent=agent)


def fit(pcm: bytes, seconds: float, rate: int) -> bytes:
    """Repeat or cut a phrase to exactly `seconds`."""
    size = int(seconds * rate) * 2
    return (pcm * (size // max(1, len(pcm)) + 1))[:size]


def row(side: str, r: dict, floor: float, barge_floor: float) -> str:
    return (
        f"{r['n']:>5} {side:<8} {r['streams']:>3}/{r['n']:<3} {r['cpu']:>8.2f} {r['rss']:>8.2f} "
        f"{r['p50']:>7.0f} {r['p95']:>7.0f} {r['p50'] - floor:>+7.0f} {r['replies']:>4}/{r['phrases']:<4} "
        f"{r['agent_s']:>7.1f} {r['clear_p50']:>7.0f} {r['clear_p50'] - barge_floor:>+7.0f} "
        f"{r['after_clear_s']:>6.2f} {r['errors']:>4}"
    )


async def main_async(args) -> None:
    from emulators.carrier.phone import flite_pcm
    from emulators.plivo.emulator import PlivoEmulator
    from emulators.twilio.emulator import TwilioEmulator

    python = ensure_pipecat() if args.pipecat else None
    gemini = EmulatorProcess(profile="bench", max_sessions=10000, scenario=str(SCENARIO))
    emulators = {}
    servers: list[Server] = []
    try:
        # One project row per --vary value ("project" when only the defaults are measured).
        batches = {"project": {}}
        if args.vary:
            name, _, values = args.vary.partition("=")
            batches = {f"{name.split('_')[-2].lower()}-{v}": {name: v} for v in values.split(",")}
        sides = [*batches, *(["daphne"] if args.daphne else []), *(["pipecat"] if args.pipecat else [])]
        for side in sides:
            emulator = TwilioEmulator("http://127.0.0.1:1", auth_token=TOKEN, jitter_ms=60)
            await emulator.start_rest()
            emulators[side] = emulator
        if args.plivo:  # Plivo callers into the first project row's process (it serves both carriers)
            emulators["plivo"] = PlivoEmulator("http://127.0.0.1:1", auth_id=PLIVO_ID, auth_token=TOKEN)
            await emulators["plivo"].start_rest()
        plivo_rest = emulators["plivo"].rest_url if args.plivo else ""
        servers = [
            start_project(
                gemini,
                emulators[name],
                settings_env=env,
                name=name,
                broker=args.broker,
                plivo_rest=plivo_rest,
            )
            for name, env in batches.items()
        ]
        if args.plivo:
            servers.insert(
                1,
                replace(
                    servers[0],
                    name="plivo",
                    voice_path="/plivo/answer/",
                    status_path="/plivo/hangup/",
                    stop=lambda: None,  # the process is the first row's
                    carrier="plivo",
                ),
            )
        if args.rtp:  # runasterisk over RTP, storing as the first project row does
            from django.conf import settings

            rtp = RtpSide(
                gemini.env(), str(settings.DATA_DIR), {"REDIS_URL": args.broker} if args.broker else {}
            )
            rtp.helper_pids = servers[0].helper_pids  # the same Celery worker stores its calls
            servers.insert(2 if args.plivo else 1, rtp)
        if args.daphne:
            servers.append(start_project(gemini, emulators["daphne"], "daphne", name="daphne"))
        if args.pipecat:
            servers.append(start_pipecat(python, gemini))
        phrase = await asyncio.to_thread(flite_pcm, "hello can you hear me I would like some help please")
        speech = fit(phrase, SPEECH_S, 8000)
        barge = fit(phrase, 1.0, 8000)
        floor, barge_floor = await stand_in_floor(gemini, speech, barge)
        print(
            f"stand-in floor (SDK straight to it, 8 kHz in 20 ms messages, median of 5 turns each): "
            f"reply {floor:.0f} ms, barge-in to `interrupted` {barge_floor:.0f} ms"
        )
        print(", ".join(f"{s.name} pid {s.pid} at {getattr(s, 'url', 'RTP')}" for s in servers))

        async def level(s: Server | RtpSide, n: int, seconds: float, barge_in: bool) -> dict:
            """One level of one row, and what the rest of the machine spent meanwhile (the callers in this
            process, the stand-in), in % of a core: the two cores are shared by all three."""
            t0, mine, stand_in = time.monotonic(), time.process_time(), proc_cpu_seconds(gemini.proc.pid)
            since = datetime.datetime.now(datetime.UTC)
            lags: list[float] = []
            probe = asyncio.create_task(loop_lag(lags))
            try:
                if isinstance(s, RtpSide):
                    r = await s.run_level(n, seconds, speech, barge, barge_in)
                else:
                    r = await run_level(emulators[s.name], s, n, seconds, speech, barge, barge_in)
            finally:
                probe.cancel()
            wall = time.monotonic() - t0
            r["callers_lag_p95"] = percentile(lags, 95)
            r["engine_reply_ms"] = None if s.name == "pipecat" else await engine_reply_ms(since, n)
            r["callers_cpu"] = 100 * (time.process_time() - mine) / wall
            r["stand_in_cpu"] = 100 * (proc_cpu_seconds(gemini.proc.pid) - stand_in) / wall
            return r

        for s in servers:  # warm-up: imports, caches (not shown)
            await level(s, 1, 6.0, False)
        modes = [False] + ([True] if args.barge_in else [])
        for barge_in in modes:
            print(
                f"\n== {'barge-in: the caller speaks over every reply' if barge_in else 'turns'} "
                f"({args.seconds:g} s calls, {args.one_call_seconds:g} s with one call)"
            )
            print(
                f"{'N':>5} {'server':<8} {'streams':>7} {'CPU%/call':>8} {'MB/call':>8} {'p50 ms':>7} "
                f"{'p95 ms':>7} {'-floor':>7} {'replies':>9} {'agent s':>7} {'clear':>7} {'-floor':>7} {'after':>6} {'errs':>4}"
            )
            for n in args.levels:
                for s in servers:
                    if s.name == "pipecat" and n > args.pipecat_up_to:
                        print(f"{n:>5} pipecat  not run above {args.pipecat_up_to} calls (--pipecat-up-to)")
                        continue
                    r = await level(s, n, args.one_call_seconds if n == 1 else args.seconds, barge_in)
                    print(row(s.name, r, floor, barge_floor), flush=True)
                    worker = (
                        f"; Celery worker +{r['helper_cpu']:.2f} % of a core per call"
                        if r["helper_cpu"]
                        else ""
                    )
                    print(
                        f"{'':>14}meanwhile: callers {r['callers_cpu']:.0f} % of a core (their loop late "
                        f"{r['callers_lag_p95']:.0f} ms p95), stand-in {r['stand_in_cpu']:.0f} %{worker}"
                        + (
                            f"; the engine's own reply time {r['engine_reply_ms']:.0f} ms"
                            if r.get("engine_reply_ms")
                            else ""
                        )
                        + f"; callers' first phrases ended within {r['ends_spread_ms']:.0f} ms (p5 to p95)"
                        + (
                            f"; barge-in phrases waited {r['frame_wait']:.0f} ms (p50) for their first frame"
                            if r.get("frame_wait") is not None
                            else ""
                        ),
                        flush=True,
                    )
                    await asyncio.sleep(3.0)
    finally:
        for e in emulators.values():
            await e.close()
        for s in servers:
            s.stop()
        gemini.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,10,30", help="comma-separated call counts")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each call's measured part")
    parser.add_argument(
        "--one-call-seconds",
        type=float,
        default=100.0,
        help="the same for the one-call level, so that its medians rest on more than six turns (a caller's "
        "20 ms frame clock alone moves each time by up to a frame)",
    )
    parser.add_argument(
        "--daphne",
        action="store_true",
        help="also the project's media in daphne, as embedded ./run serves it (a row of its own)",
    )
    parser.add_argument(
        "--broker",
        nargs="?",
        const="redis://127.0.0.1:6379/14",
        default="",
        help="the project rows as production runs them: REDIS_URL (default redis://127.0.0.1:6379/14) and a "
        "Celery worker storing what calls leave (its CPU per call printed after the row); default: embedded",
    )
    parser.add_argument("--no-pipecat", dest="pipecat", action="store_false", help="the project's rows only")
    parser.add_argument(
        "--pipecat-up-to",
        type=int,
        default=30,
        help="Pipecat's rows only up to this many calls (its one process is saturated at 30 here), so one run "
        "can take the project's rows on to 100",
    )
    parser.add_argument(
        "--no-rtp", dest="rtp", action="store_false", help="skip the project's RTP row (runasterisk)"
    )
    parser.add_argument("--no-plivo", dest="plivo", action="store_false", help="skip the project's Plivo row")
    parser.add_argument(
        "--together",
        action="store_true",
        help="every caller speaks its first phrase right after the greeting, so all N turns end within the "
        "calls' set-up spread, a burst each cycle (default: each caller at its own phase of the 6 s cycle, "
        "evenly spread, as independent callers are)",
    )
    parser.add_argument("--no-barge-in", dest="barge_in", action="store_false", help="skip the barge-in pass")
    parser.add_argument(
        "--vary",
        default="",
        help="SETTING=v1,v2: a project row per value of one setting, e.g. GEMINI_INPUT_BATCH_MS=40,100 or "
        "TWILIO_FRAME_MS=20,40 (rows named batch-40, frame-20, ...)",
    )
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    global TOGETHER
    TOGETHER = args.together
    setup_django()
    prepare_db()
    prepare_rtp_db()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
