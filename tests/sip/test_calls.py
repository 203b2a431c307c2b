"""Whole calls over the SIP trunk: sipp calls `runsip`, the engine talks to the Gemini emulator.

The caller's side is a pcap written per test (flite speech, silence, RFC 4733 digits) that sipp
plays as RTP; what the caller hears is captured on loopback and recognised with pocketsphinx.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.sip.conftest import CODECS, call_with_capture, finish
from tests.sip.media import PT, CallerScript, decode_stream, rtp_streams, to_16k

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_calls(count: int, timeout: float = 30, **filters):
    """The Call rows the runsip process stores once its calls end (Celery, eager in embedded mode)."""
    from calls.models import Call

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = list(Call.objects.filter(carrier="sip", **filters).exclude(status__in=Call.LIVE_STATUSES))
        if len(calls) >= count and all(c.ended_at for c in calls):
            return calls
        time.sleep(0.2)
    raise AssertionError(f"expected {count} finished SIP calls, have {list(Call.objects.values())}")


def heard_by_caller(capture, media_port: int, encoding: str) -> tuple[str, list]:
    """What pocketsphinx hears in the RTP we sent to the caller's media port, and that stream."""
    from emulators.gemini.speech import recognise

    streams = [s for (src, dst), s in rtp_streams(capture.datagrams()).items() if dst[1] == media_port]
    assert streams, "no RTP reached the caller"
    stream = max(streams, key=len)
    return recognise(to_16k(decode_stream(stream, encoding))), stream


def new_sessions(emulator, before: int):
    return emulator.sessions[before:]


@pytest.mark.parametrize("encoding", ["ulaw", "alaw"])
def test_answered_call_audio_both_ways_and_dtmf(
    encoding, runsip, sipp, sip_number, gemini_emulator, tmp_path
):
    """PCMU and PCMA: the caller hears the greeting and the answer to "hello" (pocketsphinx on the
    captured RTP, in the offered codec), Gemini heard "hello" from the caller's RTP, the RFC 4733
    digit 7 reaches the transcript, the caller's BYE ends the call and the Call row is stored."""
    script = CallerScript(encoding).silence(5.0).say("hello").silence(4.5).digit("7").silence(1.0)
    before = len(gemini_emulator.sessions)
    result, capture = call_with_capture(sipp, runsip, script, tmp_path)
    assert result.ok, result.describe()
    assert result.statuses("BYE") == [200]
    heard, stream = heard_by_caller(capture, result.media_port, encoding)
    assert {pt for pt, _, _ in stream} == {PT[encoding]}
    assert "calling" in heard and "help" in heard, heard

    sessions = new_sessions(gemini_emulator, before)
    assert len(sessions) == 1
    assert any("hello" in h for h in sessions[0].heard), sessions[0].heard

    (call,) = wait_for_calls(1)
    assert call.to_number == "2000" and call.from_number == "+15550001111"
    assert call.status == "completed"
    assert call.carrier_call_id in result.messages
    texts = list(call.segments.values_list("speaker", "text"))
    assert ("system", "Caller pressed 7") in texts, texts


def test_a_question_followed_by_no_packets_is_answered(runsip, sipp, sip_number, gemini_emulator, tmp_path):
    """Thrown at it: a phone with silence suppression: after "hello" it sends no RTP at all for 6 s.
    Survives: the engine keeps Gemini's turn detection fed (comfort silence), so the question is
    answered and the caller hears the answer in the captured RTP."""
    script = CallerScript("ulaw").silence(5.0).say("hello").nothing(6.0)
    before = len(gemini_emulator.sessions)
    result, capture = call_with_capture(sipp, runsip, script, tmp_path)
    assert result.ok, result.describe()
    sessions = new_sessions(gemini_emulator, before)
    assert any("hello" in h for h in sessions[0].heard), sessions[0].heard
    heard, _ = heard_by_caller(capture, result.media_port, "ulaw")
    assert "today" in heard, heard  # "Hello! How can I help you today?": the answer, not the greeting


@pytest.mark.production
def test_agent_hangs_up_with_bye(runsip, sipp, sip_number, gemini_emulator, tmp_path):
    """The caller says "thank you goodbye"; the agent calls end_call, says goodbye, and our side
    sends the BYE, which sipp answers with 200."""
    script = CallerScript("ulaw").silence(5.0).say("thank you goodbye").silence(12.0)
    pcap = script.write(tmp_path / "call.pcap")
    result = sipp(runsip, "uac_g711_wait_bye.xml", keys=CODECS["ulaw"], files={"call.pcap": pcap})
    assert result.ok, result.describe()
    assert result.received_requests().count("BYE") >= 1
    (call,) = wait_for_calls(1)
    assert "ended the call" in call.end_reason, call.end_reason


class _Webhook(BaseHTTPRequestHandler):
    overrides: dict = {}
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(json.loads(body))
        data = json.dumps(type(self).overrides).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_configuration_webhook_overrides_apply(runsip, sipp, sip_number, gemini_emulator, tmp_path):
    """The agent's configuration webhook is asked about the SIP call (to 2000, carrier sip) and its
    overrides are used: Gemini is set up with the overridden voice and says the overridden greeting,
    which the caller hears."""
    _Webhook.overrides = {"greeting": "Welcome to the override line.", "voice": "Kore"}
    _Webhook.received = []
    httpd = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        agent = sip_number.agent
        agent.config_webhook_url = f"http://127.0.0.1:{httpd.server_port}/config"
        agent.save()
        script = CallerScript("ulaw").silence(4.5)
        before = len(gemini_emulator.sessions)
        result, capture = call_with_capture(sipp, runsip, script, tmp_path, tail_ms=0)
    finally:
        httpd.shutdown()
    assert result.ok, result.describe()
    assert _Webhook.received and _Webhook.received[0]["to"] == "2000"
    assert _Webhook.received[0]["carrier"] == "sip"
    (session,) = new_sessions(gemini_emulator, before)
    assert "Kore" in json.dumps(session.setup)
    assert any("override line" in said.lower() for said in session.said), session.said
    heard, _ = heard_by_caller(capture, result.media_port, "ulaw")
    assert "welcome" in heard or "override" in heard, heard


def test_twenty_simultaneous_calls(runsip, sipp, sip_number, gemini_emulator, tmp_path):
    """20 sipp calls at once, each saying hello to the emulator and hanging up: all complete with
    a 200 to their BYE, and 20 completed Call rows are stored."""
    sip_number.agent.max_concurrent_calls = 25  # the default cap (10) would refuse half with "busy"
    sip_number.agent.save()
    script = CallerScript("ulaw").silence(2.0).say("hello").silence(3.0)
    pcap = script.write(tmp_path / "call.pcap")
    process = sipp(
        runsip,
        "uac_g711.xml",
        keys=CODECS["ulaw"],
        variables={"talk_ms": str(script.duration_ms)},
        files={"call.pcap": pcap},
        calls=20,
        limit=20,
        rate=20,
        timeout=90,
        background=True,
    )
    result = finish(process, timeout=120)
    assert result.ok, result.describe()
    assert result.statuses("BYE").count(200) == 20
    calls = wait_for_calls(20, timeout=60)
    assert all(c.status == "completed" for c in calls), [(c.status, c.end_reason) for c in calls]


def test_call_over_tcp(runsip, sipp, sip_number, gemini_emulator, tmp_path):
    """The same call over TCP (sipp -t t1): messages framed by Content-Length on one connection,
    Contact with transport=tcp, the caller's BYE answered on that connection."""
    script = CallerScript("ulaw").silence(2.0)
    pcap = script.write(tmp_path / "call.pcap")
    result = sipp(
        runsip,
        "uac_g711.xml",
        keys=CODECS["ulaw"],
        variables={"talk_ms": str(script.duration_ms)},
        files={"call.pcap": pcap},
        transport="t1",
    )
    assert result.ok, result.describe()
    assert "TCP message received" in result.messages
    assert ";transport=tcp" in result.messages
    assert result.statuses("BYE") == [200]
    (call,) = wait_for_calls(1)
    assert call.status == "completed"


def test_the_ai_disclosure_is_spoken_first_and_not_cut_by_the_caller(
    runsip, sipp, sip_number, gemini_emulator, tmp_path
):
    """Thrown at it: an agent with the AI disclosure and a sipp caller saying "hello" 1.5 s into the
    opening. Holds: the stored transcript opens with the disclosure, the greeting after it is whole,
    and the disclosure is recorded as given."""
    from agents.models import DEFAULT_AI_DISCLOSURE

    agent = sip_number.agent
    agent.ai_disclosure = DEFAULT_AI_DISCLOSURE
    agent.save()
    script = CallerScript("ulaw").silence(1.5).say("hello").silence(9.0)
    result, _ = call_with_capture(sipp, runsip, script, tmp_path)
    assert result.ok, result.describe()
    (call,) = wait_for_calls(1)
    said = list(call.segments.values_list("speaker", "text"))
    agent_lines = [text for speaker, text in said if speaker == "agent"]
    assert agent_lines[0].startswith(DEFAULT_AI_DISCLOSURE.rstrip(".")), said
    assert any(agent.greeting in line for line in agent_lines[:2]), said
    assert ("system", f"AI disclosure given: {DEFAULT_AI_DISCLOSURE}") in said
