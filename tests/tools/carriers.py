"""Fixtures shared by tests/tools and tests/campaigns: a Gemini emulator whose scenario calls the
built-in tools, the Twilio and Plivo emulators, one daphne child on all of them, an Asterisk
emulator with a runasterisk child, and agents bound to numbers and an extension.

Imported by both conftests (each directory gets its own session instances).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import ARTIFACTS, gemini_env
from tests.support.live import database_url, start_daphne

TWILIO_OURS = "+15005550101"
PLIVO_OURS = "+15005550102"
SMS_FROM = "+15005550199"
CALLER = "+14155550177"
TRANSFER_TO = "+14155550123"
EXTENSION_CONTEXT = "from-tools"

DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "emulators" / "gemini" / "default_scenario.json"
TOOL_RULES = [
    {
        "keywords": ["transfer"],
        "phrases": ["please transfer me to a person", "transfer me"],
        "reply": "Of course.",
        "call": {"name": "transfer_call", "args": {"destination": TRANSFER_TO, "reason": "caller asked"}},
        "after_tool": "Transferring you now.",
        "fallback": "I cannot transfer you.",
    },
    {
        "keywords": ["text"],
        "phrases": ["please text me the details", "text me"],
        "call": {"name": "send_sms", "args": {"body": "Your order A12345 has shipped and arrives tomorrow."}},
        "after_tool": "I have sent you a text message.",
        "fallback": "I cannot send texts.",
    },
    {
        "keywords": ["back"],
        "phrases": ["please call me back later", "call me back"],
        "call": {"name": "schedule_callback", "args": {"when": "in 1 minute", "note": "caller asked"}},
        "after_tool": "I will call you back in a minute.",
        "fallback": "I cannot schedule callbacks.",
    },
]


def tools_scenario() -> dict:
    data = json.loads(DEFAULT_SCENARIO.read_text())
    data["keywords"] = TOOL_RULES + data["keywords"]
    data["description"] = (
        "Default scenario plus rules that call transfer_call, send_sms and schedule_callback."
    )
    return data


@pytest.fixture(scope="session")
def tools_gemini():
    from emulators.gemini.testing import start_in_thread

    emulator = start_in_thread(profile="fast", scenario=tools_scenario())
    yield emulator
    emulator.close()


@pytest.fixture(scope="session")
def twilio_emu():
    from emulators.twilio.testing import start_in_thread

    emulator = start_in_thread(auth_token="tools-twilio-token")
    yield emulator
    emulator.close()


@pytest.fixture(scope="session")
def plivo_emu():
    from emulators.plivo.testing import start_in_thread

    emulator = start_in_thread(auth_token="tools-plivo-token")
    yield emulator
    emulator.close()


def carrier_env(twilio_emu, plivo_emu) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": twilio_emu.emulator.account_sid,
        "TWILIO_AUTH_TOKEN": twilio_emu.emulator.auth_token,
        "TWILIO_API_BASE_URL": twilio_emu.rest_url,
        "PLIVO_AUTH_ID": plivo_emu.emulator.auth_id,
        "PLIVO_AUTH_TOKEN": plivo_emu.emulator.auth_token,
        "PLIVO_API_BASE_URL": plivo_emu.rest_url,
        "PLIVO_MAX_FRAME_BYTES": "160",
    }


@pytest.fixture(scope="session")
def tools_server(django_db_setup, django_db_blocker, tools_gemini, twilio_emu, plivo_emu):
    """daphne on the tools scenario, with both carrier emulators as its REST APIs."""
    from django.db import connection

    env = {**gemini_env(tools_gemini), **carrier_env(twilio_emu, plivo_emu)}
    server = start_daphne(database_url(connection.settings_dict), ARTIFACTS / "logs", env)
    twilio_emu.retarget(server.url)
    plivo_emu.retarget(server.url)
    yield server
    server.stop()


@pytest.fixture
def here(settings, tools_server, twilio_emu, plivo_emu, tools_gemini):
    """This (test) process as a client of the same carriers: the scheduler and place_call run here."""
    for key, value in {**carrier_env(twilio_emu, plivo_emu), **gemini_env(tools_gemini)}.items():
        setattr(settings, key, int(value) if key == "PLIVO_MAX_FRAME_BYTES" else value)
    settings.PUBLIC_BASE_URL = tools_server.url
    return tools_server


@pytest.fixture(scope="session")
def tools_asterisk(tmp_path_factory):
    from emulators.asterisk.testing import start_in_thread
    from tests.asterisk.conftest import ARI_PASSWORD, ARI_USER

    emulator = start_in_thread(users={ARI_USER: ARI_PASSWORD})
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def tools_runasterisk(
    django_db_setup, django_db_blocker, tools_asterisk, tools_gemini, twilio_emu, plivo_emu
):
    """runasterisk on the tools scenario; texts from Asterisk calls go through Twilio (SMS_CARRIER)."""
    from django.db import connection

    from tests.asterisk.conftest import start_runasterisk

    env = {
        **gemini_env(tools_gemini),
        **carrier_env(twilio_emu, plivo_emu),
        "SMS_CARRIER": "twilio",
        "SMS_FROM": SMS_FROM,
    }
    run = start_runasterisk(tools_asterisk, database_url(connection.settings_dict), env, "rtp", "cc-tools")
    yield run
    run.stop()


@pytest.fixture
def ari_settings(settings, tools_asterisk, tools_runasterisk):
    """This process originates through the same ARI as the runasterisk child."""
    from tests.asterisk.conftest import ARI_PASSWORD, ARI_USER

    settings.ARI_URL = tools_asterisk.ari_url
    settings.ARI_USERNAME = ARI_USER
    settings.ARI_PASSWORD = ARI_PASSWORD
    settings.ARI_APP = tools_runasterisk.app
    return tools_asterisk


@pytest.fixture
def tool_agent(transactional_db):
    """An agent with every built-in tool, on a Twilio and a Plivo number and an Asterisk extension."""
    from agents.models import Agent, Extension, PhoneNumber, Tool

    agent = Agent.objects.create(
        name="Tools agent",
        system_prompt="You are a support agent for Example Corp. Context: {first_call_summary}",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
    )
    for kind in ("end_call", "transfer_call", "send_sms", "schedule_callback"):
        agent.tools.add(Tool.objects.get_or_create(name=kind, kind=kind, defaults={"description": kind})[0])
    PhoneNumber.objects.create(carrier="twilio", number=TWILIO_OURS, agent=agent)
    PhoneNumber.objects.create(carrier="plivo", number=PLIVO_OURS, agent=agent)
    Extension.objects.create(context=EXTENSION_CONTEXT, extension="700", agent=agent)
    return agent


# --- helpers -----------------------------------------------------------------------------------------
async def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    """Poll a sync predicate (ORM allowed) until it returns something truthy."""
    check = sync_to_async(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def stored_call(**filters):
    """The Call matching `filters` once the engine's records are stored (metrics exist), else None."""
    from calls.models import Call

    return Call.objects.select_related("metrics").filter(metrics__final=True, **filters).first()


def wait_sync(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
