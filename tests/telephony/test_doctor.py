"""`manage.py doctor` against the emulators: a healthy deployment is all ok (exit 0), and each fault an
operator meets gives its error line and exit status 1."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import gemini_env
from tests.support.live import ROOT, database_url, free_port

ARI_USER, ARI_PASSWORD, ARI_APP = "doctor", "ari-secret", "doctor-test"
TWILIO_SID, TWILIO_TOKEN = "AC" + "d" * 32, "doctor-twilio-token"
PLIVO_ID, PLIVO_TOKEN = "MA" + "D" * 18, "doctor-plivo-token"


@pytest.fixture(scope="module")
def twilio():
    from emulators.twilio.testing import start_in_thread

    emulator = start_in_thread(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def plivo():
    from emulators.plivo.testing import start_in_thread

    emulator = start_in_thread(auth_id=PLIVO_ID, auth_token=PLIVO_TOKEN)
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def asterisk():
    """The Asterisk emulator with `ARI_APP` registered, as a running `runasterisk` holds it."""
    from emulators.asterisk.testing import start_in_thread
    from telephony.asterisk.ari import AriClient

    emulator = start_in_thread(users={ARI_USER: ARI_PASSWORD})
    client = AriClient(emulator.ari_url, ARI_USER, ARI_PASSWORD, ARI_APP)

    async def ignore(event: dict) -> None:
        return None

    async def hold_events() -> asyncio.Task:
        return asyncio.ensure_future(client.run_events(ignore))

    events = emulator.call(hold_events)
    emulator.wait_for(lambda: emulator.emulator.app_registered(ARI_APP), what="the app's events socket")
    yield emulator
    emulator.call(client.close)
    emulator.call(lambda: asyncio.wait_for(events, 10))
    emulator.stop()


def free_udp_range(size: int = 40) -> tuple[int, int]:
    """A run of UDP ports nobody holds now (even start, as runsip allocates)."""
    for _ in range(50):
        low = free_port() & ~1
        if low + size < 65535 and not any(_udp_taken(p) for p in range(low, low + size)):
            return low, low + size - 1
    raise AssertionError("no free UDP port range")


def _udp_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture
def deployment(db, settings, gemini, twilio, plivo, asterisk) -> dict[str, str]:
    """A healthy deployment on the emulators: every check has something real to check. Returns the
    settings as environment variables too (for the subprocess test)."""
    from agents.models import Agent, PhoneNumber

    low, high = free_udp_range()
    values = {
        "PUBLIC_BASE_URL": "https://cc.example.com",
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_API_BASE_URL": twilio.rest_url,
        "PLIVO_AUTH_ID": PLIVO_ID,
        "PLIVO_AUTH_TOKEN": PLIVO_TOKEN,
        "PLIVO_API_BASE_URL": plivo.rest_url,
        "ARI_URL": asterisk.ari_url,
        "ARI_USERNAME": ARI_USER,
        "ARI_PASSWORD": ARI_PASSWORD,
        "ARI_APP": ARI_APP,
        "SIP_BIND_HOST": "127.0.0.1",
        "SIP_PORT": str(free_port()),
        "SIP_ADVERTISE_HOST": "127.0.0.1",
        "SIP_RTP_PORT_RANGE": f"{low}-{high}",
        "FALLBACK_AGENT": "",
    }
    for name, value in values.items():
        setattr(settings, name, int(value) if name == "SIP_PORT" else value)
    agent = Agent.objects.create(name="Support", system_prompt="You help.", greeting="Hello.")
    PhoneNumber.objects.create(carrier="twilio", number="+15005550006", agent=agent)
    return values


def doctor() -> tuple[str, bool]:
    """Run the command as an operator does; (its output, whether it failed)."""
    out = io.StringIO()
    try:
        call_command("doctor", stdout=out, no_color=True)
    except CommandError as exc:
        assert exc.returncode == 1
        return out.getvalue(), True
    return out.getvalue(), False


def line(output: str, start: str) -> str:
    found = [text for text in output.splitlines() if start in text]
    assert found, f"no line with {start!r} in:\n{output}"
    return found[0]


def test_healthy_deployment_is_all_ok(deployment, gemini):
    sessions = len(gemini.sessions)
    output, failed = doctor()
    assert not failed, output
    levels = [text.split()[0] for text in output.splitlines()[:-1]]
    assert set(levels) == {"ok"}, output
    assert "celery: eager (embedded mode), no worker needed" in output
    assert "gemini live: session set up and closed with gemini-3.8-live (Support)" in output
    assert f"twilio: account {TWILIO_SID} (Twilio emulator) is active" in output
    assert f"plivo: account {PLIVO_ID} (Plivo emulator) answers" in output
    assert f"app '{ARI_APP}' registered" in output
    assert "sip: SIP_RTP_PORT_RANGE" in output and "RTP ports free" in output
    assert output.splitlines()[-1].endswith("0 warning(s), 0 error(s)")
    # The round trip was real: the emulator saw a setup for the agent's model.
    setups = [s.setup for s in gemini.sessions[sessions:] if s.setup]
    assert any("gemini-3.8-live" in str(setup.get("model")) for setup in setups), setups


def test_wrong_gemini_key_is_an_error(deployment, settings):
    settings.GEMINI_API_KEY = "not-the-key"
    output, failed = doctor()
    assert failed
    assert line(output, "gemini live:").startswith("error")
    assert "check GEMINI_API_KEY" in line(output, "gemini live:")


def test_stopped_gemini_emulator_is_an_error(deployment, settings, tmp_path):
    from emulators.gemini.testing import start_in_thread

    stopped = start_in_thread(profile="fast", ca_file=tmp_path / "ca.pem")
    stopped.close()
    for name, value in gemini_env(stopped).items():
        setattr(settings, name, value)
    output, failed = doctor()
    assert failed
    found = line(output, "gemini live:")
    assert found.startswith("error") and f"cannot reach {stopped.base_url}" in found, found


def test_wrong_twilio_token_is_an_error(deployment, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong-token"
    output, failed = doctor()
    assert failed
    found = line(output, "twilio:")
    assert (
        found.startswith("error")
        and "(401 " in found
        and "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in found
    )


def test_wrong_plivo_token_is_an_error(deployment, settings):
    settings.PLIVO_AUTH_TOKEN = "wrong-token"
    output, failed = doctor()
    assert failed
    found = line(output, "plivo:")
    assert found.startswith("error") and f"refused auth id {PLIVO_ID}" in found, found
    assert "check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN" in found


def test_wrong_ari_password_is_an_error(deployment, settings):
    settings.ARI_PASSWORD = "wrong"
    output, failed = doctor()
    assert failed
    found = line(output, "asterisk:")
    assert found.startswith("error") and "refused user 'doctor' (401)" in found, found


def test_unreachable_ari_is_an_error(deployment, settings):
    settings.ARI_URL = f"http://127.0.0.1:{free_port()}/ari"
    output, failed = doctor()
    assert failed
    found = line(output, "asterisk:")
    assert found.startswith("error") and "unreachable" in found, found


def test_ari_app_not_registered_is_a_warning(deployment, settings):
    settings.ARI_APP = "nobody-runs-this"
    output, failed = doctor()
    assert not failed, output
    found = line(output, "asterisk:")
    assert found.startswith("warning") and "start `manage.py runasterisk`" in found, found


def test_taken_sip_port_is_an_error(deployment, settings):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", settings.SIP_PORT))
        output, failed = doctor()
    assert failed
    found = line(output, "sip: port")
    assert found.startswith("error") and f"127.0.0.1:{settings.SIP_PORT}/udp is taken" in found, found


def test_stopped_redis_is_an_error(deployment, settings):
    """Production mode with Redis down: the broker and the channel layer both say so."""
    stopped = f"redis://127.0.0.1:{free_port()}/0"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = stopped
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [stopped]}}
    }
    output, failed = doctor()
    assert failed
    assert line(output, "celery:").startswith(f"error   celery: broker {stopped} unreachable")
    found = line(output, "channel layer:")
    assert found.startswith("error") and "RedisChannelLayer send/receive failed" in found, found


def test_no_celery_worker_is_an_error(deployment, settings):
    """A broker that answers (kombu's in-process one here) but no worker to reply to the ping."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "memory://"
    output, failed = doctor()
    assert failed
    found = line(output, "celery:")
    assert (
        found.startswith("error")
        and "no worker replied" in found
        and "celery -A contactcenter worker" in found
    )


def test_taken_rtp_range_is_an_error(deployment, settings):
    low, high = (int(p) for p in settings.SIP_RTP_PORT_RANGE.split("-"))
    squatters = []
    try:
        for port in range(low, high + 1, 2):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            squatters.append(sock)
            sock.bind(("127.0.0.1", port))
        output, failed = doctor()
    finally:
        for sock in squatters:
            sock.close()
    assert failed
    found = line(output, "SIP_RTP_PORT_RANGE")
    assert found.startswith("error") and f"every RTP port is taken ({low}, " in found, found


def test_sip_port_held_by_runsip_is_ok(deployment, settings):
    """Run after deploying, doctor finds runsip's own listener on the port: that is not a fault."""
    import threading

    from telephony.sip.config import SipConfig
    from telephony.sip.server import SipServer

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = SipServer(SipConfig(bind_host="127.0.0.1", port=settings.SIP_PORT))
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        output, failed = doctor()
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert not failed, output
    assert line(output, "sip: runsip is already listening").startswith("ok")


def test_unapplied_migration_is_an_error(deployment):
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connection)
    last = recorder.migration_qs.filter(app="calls").order_by("-name").first()
    last.delete()  # rolled back with the test's transaction
    output, failed = doctor()
    assert failed
    found = line(output, "migrations:")
    assert found.startswith("error") and f"calls.{last.name}" in found and "manage.py migrate" in found


def test_loopback_public_url_with_a_carrier_is_an_error(deployment, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    output, failed = doctor()
    assert failed
    found = line(output, "PUBLIC_BASE_URL:")
    assert found.startswith("error") and "loopback" in found and "Twilio and Plivo call it back" in found


def test_loopback_public_url_in_the_demo_is_a_warning(deployment, settings, tmp_path):
    """./run's demo credentials (for the emulators) do not make a loopback address an error."""
    import json

    settings.CARRIER_DEMO_FILE = tmp_path / "carrier-emulators.json"
    settings.CARRIER_DEMO_FILE.write_text(
        json.dumps({"twilio": {"auth_token": TWILIO_TOKEN}, "plivo": {"auth_token": PLIVO_TOKEN}})
    )
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    output, failed = doctor()
    assert not failed, output
    assert line(output, "PUBLIC_BASE_URL:").startswith("warning")


def test_routing_warnings(deployment):
    from agents.models import Agent, PhoneNumber

    Agent.objects.create(name="Lonely", system_prompt="You help.")
    retired = Agent.objects.create(name="Retired", system_prompt="You help.", is_active=False)
    PhoneNumber.objects.create(carrier="plivo", number="+15005550007", agent=retired)
    output, failed = doctor()
    assert not failed, output
    assert line(output, "'Lonely' has no active number").startswith("warning")
    assert line(output, "bound to inactive agent 'Retired'").startswith("warning")


@pytest.mark.django_db(transaction=True)
def test_exit_status_from_the_shell(deployment, gemini):
    """The command as a deploy script runs it: exit 0 when healthy, 1 with an error line."""
    from django.db import connection

    env = {
        **os.environ,
        **deployment,
        **gemini_env(gemini),
        "DATABASE_URL": database_url(connection.settings_dict),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    command = [sys.executable, "manage.py", "doctor", "--no-color"]
    healthy = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "0 error(s)" in healthy.stdout

    env["TWILIO_AUTH_TOKEN"] = "wrong-token"
    broken = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert any(text.startswith("error") and "twilio:" in text for text in broken.stdout.splitlines())
    assert "fix the errors above" in broken.stderr
