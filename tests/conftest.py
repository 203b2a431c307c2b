"""Fixtures every area shares: the live daphne server, staff users, agents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.live import LiveServer, database_url, start_daphne
from tests.support.warm_transfer import transfer_rule  # noqa: F401 - a fixture for every warm transfer test

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
PRODUCTION = os.environ.get("CC_TEST_PRODUCTION") == "1"


def pytest_collection_modifyitems(config, items):
    """`production_only` tests need PostgreSQL and Redis: run them only with CC_TEST_PRODUCTION=1."""
    skip = pytest.mark.skip(reason="production-only test: run with CC_TEST_PRODUCTION=1 (see README)")
    for item in items:
        if "production_only" in item.keywords and not PRODUCTION:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def celery_joins_allowed():
    """Each test may wait on a task's result. Celery's eager `apply` sets a process-wide "a join would
    block" flag and restores the value it found, so two threads storing at once (calls running
    in-process) can leave it set, and every later `.get()` in that process refuses."""
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)


@pytest.fixture(scope="session", autouse=PRODUCTION)
def celery_worker_process(request):
    """Production runs: a real `celery worker` on Redis, storing into the test database.

    Embedded runs need none (tasks run eagerly in the process that queues them).
    """
    if not PRODUCTION:
        yield None
        return
    import subprocess
    import sys

    import redis
    from django.conf import settings
    from django.db import connection

    request.getfixturevalue("django_db_setup")
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no stale jobs from an earlier run
    log_path = ARTIFACTS / "logs" / "celery-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "contactcenter",
                "worker",
                "--pool=threads",
                "-c",
                "4",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield worker
    worker.terminate()
    try:
        worker.wait(15)
    except subprocess.TimeoutExpired:
        worker.kill()


@pytest.fixture(autouse=PRODUCTION)
def celery_idle_before_flush(request):
    """Production runs: the worker finishes what a test queued before that test's database is flushed.

    A store job still writing while a transactional test's TRUNCATE ran deadlocked it (the crash
    recovery test, in one CI run), and the next test then found the last one's rows. With
    acks_late, a job is in the Redis queue until a worker takes it and in `unacked` until it is done.
    """
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    request.getfixturevalue("_django_db_helper")  # set up before this, so flushed after this waits
    yield
    import time

    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + 15.0  # a job retrying later must not hold the suite
    while time.monotonic() < deadline and (client.llen("celery") or client.hlen("unacked")):
        time.sleep(0.1)


@pytest.fixture(scope="session")
def gemini_emulator():
    """The Gemini Live emulator (fast profile) on its own thread, shared by the whole session."""
    from emulators.gemini.testing import start_in_thread

    emulator = start_in_thread(profile="fast")
    yield emulator
    emulator.close()


@pytest.fixture
def gemini_instant(gemini_emulator):
    """Opt-in for tests whose assertions do not depend on reply pacing: sessions started in the test get
    the emulator's `instant` profile (replies sent at once, not at real time), to keep the suite quick."""
    with gemini_emulator.use_profile("instant"):
        yield gemini_emulator


def gemini_env(emulator) -> dict[str, str]:
    """Environment that points a child process (daphne, runasterisk, runsip) at the emulator."""
    return {
        "GEMINI_API_KEY": emulator.api_key,
        "GEMINI_BASE_URL": emulator.base_url,
        "GEMINI_CA_FILE": str(emulator.ca_file),
    }


@pytest.fixture
def gemini(settings, gemini_emulator):
    """Point this process's engine at the emulator (per test: settings are restored after)."""
    for key, value in gemini_env(gemini_emulator).items():
        setattr(settings, key, value)
    return gemini_emulator


@pytest.fixture(scope="session")
def live_server_env(gemini_emulator) -> dict[str, str]:
    """Extra environment for the live server process: the Gemini emulator, test carrier credentials."""
    return {
        **gemini_env(gemini_emulator),
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "test-twilio-auth-token",
        "PLIVO_AUTH_ID": "MA" + "0" * 18,
        "PLIVO_AUTH_TOKEN": "test-plivo-auth-token",
    }


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker, live_server_env, celery_worker_process) -> LiveServer:
    from django.db import connection

    server = start_daphne(database_url(connection.settings_dict), ARTIFACTS / "logs", live_server_env)
    yield server
    server.stop()


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "correct horse battery")


@pytest.fixture
def agent(db):
    from agents.models import Agent

    return Agent.objects.create(
        name="Support",
        system_prompt="You are a helpful support agent for Example Corp.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
    )


@pytest.fixture
def end_call_tool(transactional_db):
    from agents.models import Tool

    return Tool.objects.create(name="end_call", kind="end_call", description="End the call after goodbye.")


@pytest.fixture
def demo_agent(transactional_db, end_call_tool):
    """An agent with `end_call`, bound to the SIP user part "engine" (the in-process calls' number)."""
    from agents.models import Agent, PhoneNumber

    agent = Agent.objects.create(
        name="Engine test agent",
        system_prompt="You are a test agent for {caller_number}.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
    )
    agent.tools.add(end_call_tool)
    PhoneNumber.objects.create(carrier="sip", number="engine", agent=agent)
    return agent
