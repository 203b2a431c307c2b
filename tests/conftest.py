"""Fixtures every area shares: the live daphne server, staff users, agents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.live import LiveServer, database_url, start_daphne

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
PRODUCTION = os.environ.get("CC_TEST_PRODUCTION") == "1"


def pytest_collection_modifyitems(config, items):
    """Production-marked tests need PostgreSQL and Redis: run them only with CC_TEST_PRODUCTION=1."""
    skip = pytest.mark.skip(reason="production test: run with CC_TEST_PRODUCTION=1 (see README)")
    for item in items:
        if "production" in item.keywords and not PRODUCTION:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def live_server_env() -> dict[str, str]:
    """Extra environment for the live server process (areas add emulator endpoints here)."""
    return {}


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker, live_server_env) -> LiveServer:
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
