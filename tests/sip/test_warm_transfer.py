"""Warm transfer on direct SIP, end to end with two sipp processes and the Gemini emulator.

sipp #1 is the caller's side (a trunk, `uac_warm_transfer.xml`): it asks to be transferred (flite
speech), and the emulator's scenario calls `warm_transfer {"target": "Sales"}`. sipp #2 is the person
(`uas_person.xml`), whom runsip dials as a second call: busy (486), never answering (CANCEL after the
ring time), answering and declining (2 in a SIP INFO) or accepting (1 as an RFC 4733 event). On 1,
runsip sends REFER with Replaces on the caller's dialog; the caller's side accepts (202 + NOTIFY
sipfrag 200, then BYE), or refuses it (405), and then runsip bridges the two calls' RTP itself.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import numpy as np
import pytest

from tests.conftest import gemini_env
from tests.sip.conftest import CODECS, finish, start_runsip
from tests.sip.media import CallerScript, LoopbackCapture, decode_stream, rtp_streams, to_16k
from tests.sip.test_calls import wait_for_calls
from tests.support.live import database_url

pytestmark = pytest.mark.django_db(transaction=True)

RING_SECONDS = 6
WARM_RULE = {
    "keywords": ["transfer", "sales"],
    "phrases": ["please transfer me to sales", "transfer me to sales"],
    "reply": "Let me get someone from sales.",
    "call": {
        "name": "warm_transfer",
        "args": {
            "target": "Sales",
            "reason": "a billing question",
            "summary": "The caller wants to talk about their bill.",
        },
    },
    "after_tool": "I am sorry, the transfer ended as {outcome}.",
    "fallback": "I cannot transfer you.",
}


@pytest.fixture(scope="module")
def warm_gemini():
    """A Gemini emulator whose scenario warm-transfers on "transfer" (and ends the call on "goodbye")."""
    from emulators.gemini.testing import start_in_thread
    from tests.tools.carriers import DEFAULT_SCENARIO

    scenario = json.loads(DEFAULT_SCENARIO.read_text())
    scenario["keywords"] = [WARM_RULE, *scenario["keywords"]]
    emulator = start_in_thread(profile="fast", scenario=scenario)
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def warm_runsip(django_db_setup, django_db_blocker, warm_gemini):
    from django.db import connection

    env = {
        **gemini_env(warm_gemini),
        "WARM_TRANSFER_RING_SECONDS": str(RING_SECONDS),
        # What the person's phone in uas_person.xml ("auth") expects when it challenges our INVITE.
        "SIP_OUTBOUND_USERNAME": "ccuser",
        "SIP_OUTBOUND_PASSWORD": "s3cret",
    }
    server = start_runsip(database_url(connection.settings_dict), env)
    yield server
    server.stop()


@pytest.fixture
def sales_line(transactional_db, agent):
    """SIP user part "2000" bound to an agent with warm_transfer and end_call; `make(port)` adds the
    transfer target "Sales" at the person's sipp."""
    from agents.models import PhoneNumber, Tool, TransferTarget

    for kind in ("warm_transfer", "end_call"):
        agent.tools.add(Tool.objects.create(name=kind, kind=kind, description=kind))
    PhoneNumber.objects.create(number="2000", carrier="sip", agent=agent)

    def make(port: int) -> TransferTarget:
        return TransferTarget.objects.create(
            agent=agent, name="Sales", destination=f"sip:person01@127.0.0.1:{port}", position=1
        )

    return make


def start_person(sipp, server, tmp_path, answer: str, script: CallerScript | None = None, **variables):
    """The person's phone, in the background; returns the process (its SIP port is .ports[0])."""
    script = script or CallerScript("ulaw").silence(1.0)
    pcap = script.write(tmp_path / "person.pcap")
    values = {
        "answer": answer,
        "info_digit": "-",
        "info_ms": "0",
        "hangs_up": "0",
        "bye_ms": "0",
        "reinvite_ms": "0",
        **variables,
    }
    return sipp(
        server,
        "uas_person.xml",
        variables=values,
        files={"person.pcap": pcap},
        background=True,
        timeout=60,
    )


def call_in(
    sipp,
    server,
    tmp_path,
    script: CallerScript,
    refer_status: str = "202",
    relay_ms: int = 0,
    final_status: str = "200",
):
    pcap = script.write(tmp_path / "call.pcap")
    return sipp(
        server,
        "uac_warm_transfer.xml",
        keys=CODECS["ulaw"],
        variables={"refer_status": refer_status, "relay_ms": str(relay_ms), "final_status": final_status},
        files={"call.pcap": pcap},
        timeout=60,
    )


def received_block(messages: str, start: str) -> str:
    """The first traced message received that starts with `start` (e.g. "INVITE sip:")."""
    for block in messages.split("----------------------------------------------- ")[1:]:
        if "message received" in block and re.search(rf"^\s*{re.escape(start)}", block, re.M):
            return block
    raise AssertionError(f"no received {start!r} in\n{messages[-3000:]}")


def sent_block(messages: str, start: str) -> str:
    for block in messages.split("----------------------------------------------- ")[1:]:
        if "message sent" in block and re.search(rf"^\s*{re.escape(start)}", block, re.M):
            return block
    raise AssertionError(f"no sent {start!r} in\n{messages[-3000:]}")


def header(block: str, name: str) -> str:
    match = re.search(rf"^\s*{name}:\s*(.*?)\s*$", block, re.M | re.I)
    assert match, f"no {name} in {block}"
    return match.group(1)


def tag_of(value: str) -> str:
    return re.search(r";tag=([^;>\s]+)", value).group(1)


def tone_level(pcm: bytes, freq: float) -> float:
    """Share of the signal's energy within 40 Hz of `freq` (1.0: a pure tone)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if len(samples) < 800:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    band = (freqs > freq - 40) & (freqs < freq + 40)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-9))


def to_port(capture, port: int) -> bytes:
    """PCMU audio runsip sent to a sipp media `port`, decoded (the longest stream)."""
    streams = [s for (_, dst), s in rtp_streams(capture.datagrams()).items() if dst[1] == port]
    assert streams, f"no RTP reached port {port}"
    return decode_stream(max(streams, key=len), "ulaw")


ASKS = "please transfer me to sales"


def test_accepted_hands_the_caller_over_with_refer_replaces(
    warm_runsip, sipp, sales_line, warm_gemini, tmp_path
):
    """The person answers, hears the brief (pocketsphinx hears it on the RTP we sent them) and
    presses 1 (RFC 4733). runsip sends REFER on the caller's dialog whose Refer-To is the person's
    Contact with `Replaces=<the person's Call-ID>;to-tag=<the person's tag>;from-tag=<ours>`, the
    caller's side answers 202 and NOTIFY sipfrag 200, and BYEs. The person's phone drops the replaced
    dialog with its own BYE; we never BYE either side. The Call shows the hand-off to Sales, accepted,
    with its seconds, and ended as handed off."""
    from emulators.gemini.speech import recognise

    low, high = warm_runsip.rtp_ports
    person_script = CallerScript("ulaw").silence(8.0).digit("1").silence(1.0)
    person = start_person(sipp, warm_runsip, tmp_path, "200", person_script, hangs_up="1", bye_ms="9500")
    sales_line(person.ports[0])
    before = len(warm_gemini.sessions)
    with LoopbackCapture(f"udp and src portrange {low}-{high}", tmp_path) as capture:
        caller = call_in(sipp, warm_runsip, tmp_path, CallerScript("ulaw").silence(4.0).say(ASKS).silence(20))
        person_result = finish(person)
    assert caller.ok, caller.describe()
    assert person_result.ok, person_result.describe()

    # The REFER names the person's dialog as their phone sees it (RFC 3891 §3).
    invite = received_block(person_result.messages, "INVITE sip:person01@")
    person_call_id = header(invite, "Call-ID")
    our_tag = tag_of(header(invite, "From"))
    person_tag = tag_of(header(sent_block(person_result.messages, "SIP/2.0 200 OK"), "To"))
    refer = received_block(caller.messages, "REFER sip:")
    refer_to = re.search(r"<([^>]+)>", header(refer, "Refer-To")).group(1)
    target, _, replaces = refer_to.partition("?Replaces=")
    assert target == f"sip:person@127.0.0.1:{person_result.local_port};transport=UDP", refer_to
    assert unquote(replaces) == f"{person_call_id};to-tag={person_tag};from-tag={our_tag}", refer_to
    assert "Referred-By: <sip:2000@127.0.0.1" in refer
    assert caller.received_requests() == ["REFER"], caller.describe()
    assert caller.statuses("NOTIFY") == [200, 200]
    assert caller.statuses("BYE") == [200]
    assert person_result.received_requests() == ["INVITE", "ACK"], person_result.describe()
    assert person_result.statuses("BYE") == [200]

    brief = to_16k(to_port(capture, person_result.media_port))
    heard = recognise(brief)
    # "... about a billing question": pocketsphinx often hears "about a billion question"; under load
    # the rest of the brief degrades first.
    assert "about a bill" in heard and "question" in heard, heard

    (session,) = warm_gemini.sessions[before:]
    assert [c["name"] for c in session.tool_calls] == ["warm_transfer"], session.tool_calls
    (call,) = wait_for_calls(1)
    assert call.end_reason == "handed off to Sales", call.end_reason
    assert (call.handoff_to, call.handoff_outcome) == ("Sales", "accepted")
    assert 0 < call.handoff_seconds < 20, call.handoff_seconds


def test_caller_side_leaving_after_202_counts_as_handed_off(
    warm_runsip, sipp, sales_line, warm_gemini, tmp_path
):
    """Some PBXes take the REFER (202) and leave at once with BYE, sending no NOTIFY: the hand-off is
    accepted all the same (the caller's side has the transfer), the person's phone drops the replaced
    dialog itself, and we send no BYE to either side."""
    person_script = CallerScript("ulaw").silence(3.0).digit("1").silence(1.0)
    person = start_person(sipp, warm_runsip, tmp_path, "200", person_script, hangs_up="1", bye_ms="5000")
    sales_line(person.ports[0])
    caller = call_in(
        sipp, warm_runsip, tmp_path, CallerScript("ulaw").silence(4.0).say(ASKS).silence(14), final_status="0"
    )
    person_result = finish(person)
    assert caller.ok, caller.describe()
    assert person_result.ok, person_result.describe()
    assert caller.received_requests() == ["REFER"], caller.describe()
    assert caller.statuses("NOTIFY") == [] and caller.statuses("BYE") == [200]
    assert person_result.received_requests() == ["INVITE", "ACK"], person_result.describe()

    (call,) = wait_for_calls(1)
    assert (call.handoff_to, call.handoff_outcome) == ("Sales", "accepted")
    assert call.end_reason == "handed off to Sales", call.end_reason


@pytest.mark.parametrize(
    "refer_status, final_status", [("405", "200"), ("202", "481")], ids=["refer-405", "notify-481"]
)
def test_refer_refused_bridges_the_legs_here(
    refer_status, final_status, warm_runsip, sipp, sales_line, warm_gemini, tmp_path
):
    """The trunk answers the REFER 405 (no transfers), or takes it (202) but then reports in its final
    NOTIFY that the person's phone refused the INVITE with Replaces (sipfrag 481): runsip relays the
    RTP between the caller and the person itself. The caller's 600 Hz tone reaches the person and the person's 1000 Hz tone reaches
    the caller, both through runsip's sockets, also after the person's phone refreshed the session
    with a re-INVITE (answered 200 with the same RTP address). When the caller hangs up, runsip BYEs
    the person. The hand-off is recorded as accepted."""
    low, high = warm_runsip.rtp_ports
    person_script = CallerScript("ulaw").silence(2.0).digit("1").silence(1.0).tone(1000, 6.0)
    person = start_person(sipp, warm_runsip, tmp_path, "200", person_script, hangs_up="0", reinvite_ms="5000")
    sales_line(person.ports[0])
    caller_script = CallerScript("ulaw").silence(4.0).say(ASKS).silence(5.0).tone(600, 12.0)
    with LoopbackCapture(f"udp and src portrange {low}-{high}", tmp_path) as capture:
        caller = call_in(
            sipp, warm_runsip, tmp_path, caller_script, refer_status, relay_ms=7000, final_status=final_status
        )
        person_result = finish(person)
    assert caller.ok, caller.describe()
    assert person_result.ok, person_result.describe()
    assert caller.received_requests() == ["REFER"], caller.describe()
    assert caller.statuses("NOTIFY") == ([200, 200] if refer_status == "202" else [])
    assert person_result.received_requests() == ["INVITE", "ACK", "BYE"], person_result.describe()
    assert person_result.statuses("INVITE") == [200], person_result.describe()
    offered = re.search(r"^m=audio (\d+)", received_block(person_result.messages, "INVITE sip:"), re.M)
    refreshed = re.search(r"^m=audio (\d+)", received_block(person_result.messages, "SIP/2.0 200"), re.M)
    assert offered.group(1) == refreshed.group(1), "the re-INVITE's answer moved our RTP port"

    to_person = to_port(capture, person_result.media_port)
    to_caller = to_port(capture, caller.media_port)
    assert tone_level(to_person[-8000 * 3 :], 600) > 0.5, "the caller's tone did not reach the person"
    assert tone_level(to_caller[-8000 * 3 :], 1000) > 0.5, "the person's tone did not reach the caller"

    (call,) = wait_for_calls(1)
    assert (call.handoff_to, call.handoff_outcome) == ("Sales", "accepted")
    assert call.end_reason == "handed off to Sales", call.end_reason


@pytest.mark.parametrize(
    "answer, outcome, person_requests",
    [
        ("486", "busy", ["INVITE", "ACK"]),
        ("never", "no-answer", ["INVITE", "CANCEL", "ACK"]),
        ("200", "declined", ["INVITE", "ACK", "BYE"]),
        ("auth", "declined", ["INVITE", "ACK", "INVITE", "ACK", "BYE"]),
    ],
    ids=["busy", "no-answer", "declined", "declined-after-digest-challenge"],
)
def test_agent_comes_back_when_nobody_takes_the_call(
    answer, outcome, person_requests, warm_runsip, sipp, sales_line, warm_gemini, tmp_path
):
    """Busy (486), no answer (CANCEL after the ring time, 487) or declined (2 in a SIP INFO, then our
    BYE to the person; also after the person's PBX challenged our INVITE with 401 and sipp verified
    our digest answer): no REFER is sent; the model gets the outcome and tells the caller ("...ended
    as busy"), the call goes on and ends normally on the caller's goodbye (our BYE)."""
    variables = {"info_digit": "2", "info_ms": "1500"} if outcome == "declined" else {}
    person = start_person(sipp, warm_runsip, tmp_path, answer, **variables)
    sales_line(person.ports[0])
    before = len(warm_gemini.sessions)
    script = CallerScript("ulaw").silence(4.0).say(ASKS).silence(20.0).say("thank you goodbye").silence(8.0)
    caller = call_in(sipp, warm_runsip, tmp_path, script)
    person_result = finish(person)
    assert caller.ok, caller.describe()
    assert person_result.ok, person_result.describe()
    assert caller.received_requests() == ["BYE"], caller.describe()
    assert person_result.received_requests() == person_requests, person_result.describe()

    (session,) = warm_gemini.sessions[before:]
    assert [c["name"] for c in session.tool_calls] == ["warm_transfer", "end_call"], session.tool_calls
    said = " ".join(session.said).lower()
    assert f"ended as {outcome}" in said, session.said
    (call,) = wait_for_calls(1)
    assert call.status == "completed"
    assert "ended the call" in call.end_reason, call.end_reason
    assert (call.handoff_to, call.handoff_outcome) == ("Sales", outcome)


def message_times(messages: str, start: str, direction: str) -> list[float]:
    """Wall-clock times sipp traced messages starting with `start` ("sent" or "received")."""
    from datetime import datetime

    times = []
    for block in messages.split("----------------------------------------------- ")[1:]:
        stamp, _, rest = block.partition("\n")
        if f"message {direction}" in rest and re.search(rf"^\s*{re.escape(start)}", rest, re.M):
            times.append(datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S.%f").timestamp())
    return times


def test_caller_hanging_up_cancels_the_ringing_person(warm_runsip, sipp, sales_line, warm_gemini, tmp_path):
    """Fault: the caller hangs up while the person's phone rings. runsip CANCELs the person's INVITE
    at once (not at the end of the ring time), takes their 487 with an ACK, and stores the call as
    ended by the caller, with the hand-off to Sales recorded as abandoned (as on every transport)."""
    person = start_person(sipp, warm_runsip, tmp_path, "never")
    sales_line(person.ports[0])
    script = CallerScript("ulaw").silence(4.0).say(ASKS).silence(2.5)
    pcap = script.write(tmp_path / "call.pcap")
    caller = sipp(
        warm_runsip,
        "uac_g711.xml",
        keys=CODECS["ulaw"],
        variables={"talk_ms": str(script.duration_ms)},
        files={"call.pcap": pcap},
        timeout=40,
    )
    person_result = finish(person)
    assert caller.ok, caller.describe()
    assert person_result.ok, person_result.describe()
    assert person_result.received_requests() == ["INVITE", "CANCEL", "ACK"], person_result.describe()
    (bye,) = message_times(caller.messages, "BYE sip:", "sent")
    (invite,) = message_times(person_result.messages, "INVITE sip:", "received")
    (cancel,) = message_times(person_result.messages, "CANCEL sip:", "received")
    assert bye > invite, "the caller hung up before the person was dialled"
    # Each sipp stamps its trace with the clock of its own scheduler tick, a few ms coarse: a CANCEL
    # that answers the BYE can carry a stamp a millisecond earlier than the BYE's.
    assert -0.02 <= cancel - bye < 1.5, (cancel - bye, cancel - invite)

    (call,) = wait_for_calls(1)
    assert (call.handoff_to, call.handoff_outcome) == ("Sales", "abandoned")
    assert "hung up" in call.end_reason, call.end_reason
