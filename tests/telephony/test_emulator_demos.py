"""The carrier emulator demos as the README gives them: `./run`'s `bootstrap_demo --carrier-credentials`,
then `manage.py twilio_emulator call` / `plivo_emulator call` with no flags, in their own processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from tests.conftest import ARTIFACTS, gemini_env
from tests.support.live import ROOT, database_url, free_port, start_daphne


@pytest.fixture
def demo_dir(tmp_path, settings, transactional_db):
    """A DATA_DIR as `./run` leaves it: demo agent and numbers, demo carrier credentials on free ports."""
    settings.CARRIER_DEMO_FILE = tmp_path / "carrier-emulators.json"
    call_command("bootstrap_demo", carrier_credentials=True, stdout=open(os.devnull, "w"))
    demo = json.loads(settings.CARRIER_DEMO_FILE.read_text())
    for carrier in ("twilio", "plivo"):  # ephemeral ports instead of the demo's fixed ones
        demo[carrier]["api_base_url"] = f"http://127.0.0.1:{free_port()}"
    settings.CARRIER_DEMO_FILE.write_text(json.dumps(demo))
    return tmp_path


@pytest.fixture
def demo_server(demo_dir, gemini_emulator):
    """daphne started like `./run` starts it: no carrier token in its environment, the same DATA_DIR."""
    from django.db import connection

    env = {
        **gemini_env(gemini_emulator),
        "DATA_DIR": str(demo_dir),
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_API_BASE_URL": "",
        "PLIVO_AUTH_ID": "",
        "PLIVO_AUTH_TOKEN": "",
        "PLIVO_API_BASE_URL": "",
    }
    server = start_daphne(database_url(connection.settings_dict), ARTIFACTS / "logs", env)
    yield server
    server.stop()


@pytest.mark.parametrize("carrier", ["twilio", "plivo"])
def test_emulator_demo_works_with_no_flags_and_prints_the_apps_transcript(demo_server, demo_dir, carrier):
    """Thrown: a newcomer's `<carrier>_emulator call` with no token, number or port flag, in another
    process. Survived: the webhook is accepted (the tokens match), the demo number is answered, and the
    command ends with the app's own stored transcript (greeting and reply) and the call page's link."""
    from django.db import connection

    env = {
        **os.environ,
        "DATA_DIR": str(demo_dir),
        "DATABASE_URL": database_url(connection.settings_dict),
        "NO_PROXY": "127.0.0.1,localhost",
        "PUBLIC_BASE_URL": demo_server.url,
    }
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"):
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, "manage.py", f"{carrier}_emulator", "call", "--app", demo_server.url,
         "--say", "i would like to check the status of my order"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "webhook HTTP 200" in out, out
    assert "what an 8 kHz recogniser here heard" in out, out
    record = out.split("The app's record of the call:", 1)
    assert len(record) == 2, out
    transcript = record[1]
    assert "agent: Hello, thanks for calling Example Corp" in transcript, out
    assert "caller:" in transcript and "order" in transcript, out
    assert f"Call page: {demo_server.url}/calls/" in transcript, out
