"""SIP the way trunks send it, driven by sipp against a real `runsip`: delayed offer, INVITE
retransmissions after the 2xx (RFC 6026) and DTMF in SIP INFO."""

from __future__ import annotations

import json
import re

import pytest

from tests.sip.conftest import CODECS, call_with_capture
from tests.sip.media import PT, CallerScript
from tests.sip.test_calls import heard_by_caller, new_sessions, wait_for_calls

pytestmark = pytest.mark.django_db(transaction=True)


def to_tags_of_200s(messages: str) -> set[str]:
    """The To tags of every 200 OK to an INVITE that sipp received (one dialog: one tag)."""
    tags = set()
    for block in messages.split("----------------------------------------------- ")[1:]:
        if "message received" in block and re.search(r"^SIP/2\.0 200", block, re.M):
            if re.search(r"^CSeq:\s*\d+\s+INVITE", block, re.M | re.I):
                tags.add(re.search(r"^To:.*;tag=([\w.-]+)", block, re.M | re.I).group(1))
    return tags


@pytest.mark.parametrize("encoding", ["ulaw", "alaw"])
def test_delayed_offer_call_works_both_ways(encoding, runsip, sipp, sip_number, gemini_emulator, tmp_path):
    """An INVITE without SDP is answered 200 with our offer (PCMU, PCMA, telephone-event; sipp
    checks the m= line), the caller's answer in the ACK picks the codec, and the call works: the
    caller hears the greeting in that codec (pocketsphinx on the captured RTP), Gemini hears
    "hello", the caller's BYE gets 200 and the Call row is completed."""
    script = CallerScript(encoding).silence(5.0).say("hello").silence(4.5)
    before = len(gemini_emulator.sessions)
    result, capture = call_with_capture(sipp, runsip, script, tmp_path, "uac_delayed_offer.xml")
    assert result.ok, result.describe()
    assert 488 not in result.statuses("INVITE")
    assert result.statuses("BYE") == [200]
    heard, stream = heard_by_caller(capture, result.media_port, encoding)
    assert {pt for pt, _, _ in stream} == {PT[encoding]}
    assert "calling" in heard and "help" in heard, heard

    (session,) = new_sessions(gemini_emulator, before)
    assert any("hello" in h for h in session.heard), session.heard
    (call,) = wait_for_calls(1)
    assert call.status == "completed", call.end_reason
    assert call.carrier_call_id in result.messages


def test_delayed_offer_ack_without_answer_is_hung_up(runsip, sipp, sip_number, gemini_emulator):
    """A delayed offer whose ACK carries no SDP answer: we send BYE with a Reason saying so, no
    Gemini session is opened, and the Call row is failed with that reason."""
    before = len(gemini_emulator.sessions)
    result = sipp(runsip, "uac_delayed_offer_no_answer.xml")
    assert result.ok, result.describe()
    assert result.received_requests() == ["BYE"]
    assert re.search(r"^Reason:.*no SDP answer in the ACK", result.messages, re.M), result.messages
    (call,) = wait_for_calls(1)
    assert call.status == "failed"
    assert call.end_reason == "no SDP answer in the ACK (delayed offer)"
    assert call.carrier_call_id in result.messages
    assert new_sessions(gemini_emulator, before) == []


def test_retransmitted_invite_never_starts_a_second_call(
    runsip_factory, sipp, sip_number, gemini_emulator, tmp_path
):
    """The same INVITE (Call-ID, branch, CSeq) sent again right after our 200 (the transaction is
    "Accepted"), again 8 s into the call and again 8 s after the call ended (both past timer L =
    64*T1 = 6.4 s with SIP_T1_MS=100): no copy is answered (sipp fails on any response it does not
    expect), every 200 carries one To tag, and there is one Call row and one Gemini session."""
    from calls.models import Call

    server = runsip_factory(SIP_T1_MS="100")
    script = CallerScript("ulaw").silence(10.0)
    before = len(gemini_emulator.sessions)
    result = sipp(
        server,
        "uac_invite_retransmitted.xml",
        keys=CODECS["ulaw"],
        variables={"late_ms": "8000", "talk_ms": "2000"},
        files={"call.pcap": script.write(tmp_path / "call.pcap")},
    )
    assert result.ok, result.describe()
    assert result.statuses("BYE") == [200]
    assert len(to_tags_of_200s(result.messages)) == 1
    (call,) = wait_for_calls(1)
    assert call.status == "completed", call.end_reason
    assert Call.objects.filter(carrier_call_id=call.carrier_call_id).count() == 1
    assert Call.objects.filter(carrier="sip").count() == 1
    assert len(new_sessions(gemini_emulator, before)) == 1
    assert server.log().count(f"dropped a late retransmission of the INVITE for {call.carrier_call_id}") == 2


def test_info_dtmf_relay_and_dtmf_bodies(runsip, sipp, sip_number, gemini_emulator, tmp_path):
    """SIP INFO digits: 5 as application/dtmf-relay (Signal=5) and 9 as application/dtmf (the body
    is the digit) are each answered 200 and reach the engine alike: the transcript says "Caller
    pressed 5" and "Caller pressed 9", and Gemini is told about both keys."""
    script = CallerScript("ulaw").silence(8.0)
    before = len(gemini_emulator.sessions)
    result = sipp(
        runsip,
        "uac_info_dtmf.xml",
        keys=CODECS["ulaw"],
        variables={"info_ms": "3000", "talk_ms": "2000"},
        files={"call.pcap": script.write(tmp_path / "call.pcap")},
    )
    assert result.ok, result.describe()
    assert result.statuses("INFO") == [200, 200]
    (call,) = wait_for_calls(1)
    texts = list(call.segments.values_list("speaker", "text"))
    assert ("system", "Caller pressed 5") in texts, texts
    assert ("system", "Caller pressed 9") in texts, texts
    (session,) = new_sessions(gemini_emulator, before)
    sent = json.dumps(session.messages)
    assert "pressed the key 5" in sent and "pressed the key 9" in sent
