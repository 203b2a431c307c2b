"""transfer_call on the SIP trunk: a blind transfer with REFER (RFC 3515), driven by sipp.

sipp plays the trunk's side: its caller asks (flite speech) to be transferred, the Gemini emulator's
scenario calls `transfer_call {"destination": "+14155550123"}`, runsip sends REFER in the dialog,
and sipp answers it like a trunk would (202 + NOTIFY sipfrag + BYE, or 603 Decline).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import gemini_env
from tests.sip.conftest import CODECS, start_runsip
from tests.sip.media import CallerScript
from tests.sip.test_calls import wait_for_calls
from tests.support.live import database_url

pytestmark = pytest.mark.django_db(transaction=True)

DESTINATION = "+14155550123"
TRANSFER_RULE = {
    "keywords": ["transfer"],
    "phrases": ["please transfer me to a person", "transfer me"],
    "reply": "Of course.",
    "call": {"name": "transfer_call", "args": {"destination": DESTINATION, "reason": "caller asked"}},
    "after_tool": "One moment please.",
    "fallback": "I cannot transfer you.",
}


@pytest.fixture(scope="module")
def refer_gemini():
    """A Gemini emulator whose scenario transfers on "transfer" (and ends the call on "goodbye")."""
    from emulators.gemini.testing import start_in_thread
    from tests.tools.carriers import DEFAULT_SCENARIO

    scenario = json.loads(DEFAULT_SCENARIO.read_text())
    scenario["keywords"] = [TRANSFER_RULE, *scenario["keywords"]]
    emulator = start_in_thread(profile="fast", scenario=scenario)
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def refer_runsip(django_db_setup, django_db_blocker, refer_gemini):
    from django.db import connection

    server = start_runsip(database_url(connection.settings_dict), gemini_env(refer_gemini))
    yield server
    server.stop()


@pytest.fixture
def transfer_number(transactional_db, agent):
    """SIP user part "2000" bound to an agent that may transfer and end calls."""
    from agents.models import PhoneNumber, Tool

    for kind in ("transfer_call", "end_call"):
        agent.tools.add(Tool.objects.create(name=kind, kind=kind, description=kind))
    return PhoneNumber.objects.create(number="2000", carrier="sip", agent=agent)


def transfer_invocation(call):
    from calls.models import ToolInvocation

    (invocation,) = ToolInvocation.objects.filter(call=call, tool_name="transfer_call")
    return invocation


@pytest.mark.parametrize("trunk_bye", [True, False], ids=["trunk-sends-bye", "we-send-bye"])
def test_refer_accepted_transfers_the_caller(
    trunk_bye, refer_runsip, sipp, transfer_number, refer_gemini, tmp_path
):
    """The caller says "please transfer me to a person": runsip sends REFER with Refer-To
    sip:+14155550123@<the trunk's host:port> and Referred-By (checked by sipp), sipp answers 202 and
    sends NOTIFYs with sipfrag 100 and 200, both answered 200 by us. Then either sipp sends BYE
    (answered 200, and we never send one), or sipp stays silent and our BYE comes a few seconds
    later. The stored transfer_call succeeded and the call ended as transferred."""
    script = CallerScript("ulaw").silence(5.0).say("please transfer me to a person").silence(8.0)
    pcap = script.write(tmp_path / "call.pcap")
    before = len(refer_gemini.sessions)
    result = sipp(
        refer_runsip,
        "uac_refer.xml",
        keys=CODECS["ulaw"],
        variables={"refer_status": "202", "trunk_bye": "1" if trunk_bye else "0"},
        files={"call.pcap": pcap},
        timeout=25,
    )
    assert result.ok, result.describe()
    assert result.received_requests() == (["REFER"] if trunk_bye else ["REFER", "BYE"]), result.describe()
    assert f"Refer-To: <sip:{DESTINATION}@127.0.0.1:{result.local_port}>" in result.messages
    assert "Referred-By: <sip:2000@127.0.0.1" in result.messages
    assert result.statuses("NOTIFY") == [200, 200]
    assert result.statuses("BYE") == ([200] if trunk_bye else [])
    if not trunk_bye:
        assert f'text="transferred to {DESTINATION}"' in result.messages  # our BYE's Reason

    (session,) = refer_gemini.sessions[before:]
    assert [c["name"] for c in session.tool_calls] == ["transfer_call"], session.tool_calls
    (call,) = wait_for_calls(1)
    assert call.end_reason == f"transferred to {DESTINATION}", call.end_reason
    invocation = transfer_invocation(call)
    assert invocation.error == "", invocation.error
    assert invocation.result["ok"] is True
    assert invocation.arguments["destination"] == DESTINATION


def test_refer_declined_keeps_the_call(refer_runsip, sipp, transfer_number, refer_gemini, tmp_path):
    """sipp answers our REFER with 603 Decline: the transfer_call invocation stores
    {"error": "...declined... (603 Decline)"}, which the model received as the tool's
    response; the agent speaks again after the tool (its after-tool reply, then the goodbye when the
    caller says "thank you goodbye"), and the call ends normally with our BYE."""
    script = (
        CallerScript("ulaw")
        .silence(5.0)
        .say("please transfer me to a person")
        .silence(5.0)
        .say("thank you goodbye")
        .silence(8.0)
    )
    pcap = script.write(tmp_path / "call.pcap")
    before = len(refer_gemini.sessions)
    result = sipp(
        refer_runsip,
        "uac_refer.xml",
        keys=CODECS["ulaw"],
        variables={"refer_status": "603", "trunk_bye": "0"},
        files={"call.pcap": pcap},
        timeout=25,
    )
    assert result.ok, result.describe()
    assert result.received_requests() == ["REFER", "BYE"], result.describe()

    (session,) = refer_gemini.sessions[before:]
    assert [c["name"] for c in session.tool_calls] == ["transfer_call", "end_call"], session.tool_calls
    said = " ".join(session.said).lower()
    assert said.index("one moment please") < said.index("goodbye"), session.said
    (call,) = wait_for_calls(1)
    assert call.status == "completed"
    assert "ended the call" in call.end_reason, call.end_reason
    invocation = transfer_invocation(call)
    # The refusal is the invocation's error (shown on the call page); the model was told the same.
    assert invocation.result is None, invocation.result
    error = invocation.error
    assert "declined" in error and "603 Decline" in error, error
    assert error in json.dumps(session.tool_responses), session.tool_responses
