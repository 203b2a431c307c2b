"""After-call jobs: a summary and the agent's extract fields from a Gemini text model (the emulator's
generateContent, through the real SDK), stored on the call, shown on its page, POSTed to the agent's
signed post-call webhook."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command

from calls.models import Call
from calls.tasks import store_call

pytestmark = pytest.mark.django_db(transaction=True)


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    paths: list = []

    def do_POST(self):  # noqa: N802
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((raw, self.headers.get("X-Signature")))
        _Hook.paths.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received, _Hook.paths = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/after-call"
    server.shutdown()


def test_democall_gets_a_summary_shown_on_its_page_and_posted_signed(
    demo_agent, gemini, hook, client, staff_user
):
    demo_agent.post_call_webhook_url = hook
    demo_agent.post_call_webhook_secret = "after-secret"
    demo_agent.extract_fields = "status"
    demo_agent.save()
    call_command("democall", "--to", "engine", "--wait", "3", stdout=io.StringIO())
    call = Call.objects.get()
    assert call.summary.startswith("Summary:") and "status of my order" in call.summary.lower()
    assert set(call.extracted) == {"status"}
    raw, signature = _Hook.received[0]
    assert signature == hmac.new(b"after-secret", raw, hashlib.sha256).hexdigest()
    body = json.loads(raw)
    assert body["call_id"] == str(call.pk) and body["summary"] == call.summary
    assert [t["speaker"] for t in body["transcript"]][:2] == ["agent", "caller"]
    client.force_login(staff_user)
    page = client.get(f"/calls/{call.pk}/").content.decode()
    assert "After the call" in page and "status of my order" in page.lower()


def _payload(call: Call, text: str) -> dict:
    return {
        "call_id": str(call.pk),
        "status": "completed",
        "end_reason": "caller hung up",
        "answered_at": None,
        "ended_at": "2026-11-24T10:00:00+00:00",
        "tokens": {},
        "segments": [
            {"speaker": "agent", "text": "Hello, how can I help?", "start_ms": 0, "end_ms": 900},
            {"speaker": "caller", "text": text, "start_ms": 1500, "end_ms": 4000},
        ],
        "metrics": {"turns": 2},
        "tool_invocations": [],
        "recording": None,
    }


def test_extract_fields_are_filled_from_the_transcript(demo_agent, gemini):
    demo_agent.extract_fields = "name, reason for calling"
    demo_agent.save()
    call = Call.objects.create(carrier="sip", agent=demo_agent, status="in_progress")
    assert (
        store_call.delay(_payload(call, "Hi, my name is Ada Lovelace. I have a question.")).get() == "stored"
    )
    call.refresh_from_db()
    assert call.extracted == {"name": "Ada Lovelace", "reason_for_calling": ""}
    assert call.summary.startswith("Summary: agent: Hello, how can I help?")


def test_gemini_down_keeps_the_call_and_still_posts_the_webhook(demo_agent, gemini, hook, settings, caplog):
    """Thrown: the text model unreachable. Survives: the stored call, its transcript, the webhook (empty summary)."""
    settings.GEMINI_BASE_URL = "https://127.0.0.1:9"
    demo_agent.post_call_webhook_url = hook
    demo_agent.save()
    call = Call.objects.create(carrier="sip", agent=demo_agent, status="in_progress")
    assert store_call.delay(_payload(call, "thank you goodbye")).get() == "stored"
    call.refresh_from_db()
    assert call.status == "completed" and call.segments.count() == 2 and call.summary == ""
    assert "after-call summary" in caplog.text and "failed" in caplog.text
    assert json.loads(_Hook.received[0][0])["summary"] == ""


def test_after_call_settings_follow_the_version_the_call_ran_on(demo_agent, gemini, hook):
    """Thrown: v1 published with an extract field and a post-call webhook, then the draft edited to
    other fields, another webhook URL and redaction off, unpublished. Holds: a call afterwards is
    summarised, extracted, redacted and posted as v1 says; once the draft is published, as it says."""
    from agents import versions

    demo_agent.extract_fields = "status"
    demo_agent.post_call_webhook_url = hook
    demo_agent.save()
    versions.publish(demo_agent, "test")
    demo_agent.refresh_from_db()
    demo_agent.extract_fields = "name"
    demo_agent.post_call_webhook_url = hook + "/draft"
    demo_agent.redact_transcripts = False
    demo_agent.save()

    call_command("democall", "--to", "engine", "--wait", "3", stdout=io.StringIO())
    call = Call.objects.get()
    assert set(call.extracted) == {"status"}
    assert _Hook.paths == ["/after-call"] and json.loads(_Hook.received[0][0])["call_id"] == str(call.pk)
    assert call.agent_snapshot["post_call_webhook_url"] == hook and call.agent_snapshot["redact_transcripts"]

    versions.publish(demo_agent, "test")
    call_command("democall", "--to", "engine", "--wait", "3", stdout=io.StringIO())
    second = Call.objects.exclude(pk=call.pk).get()
    assert set(second.extracted) == {"name"} and not second.agent_snapshot["redact_transcripts"]
    assert _Hook.paths == ["/after-call", "/after-call/draft"]
    assert json.loads(_Hook.received[1][0])["call_id"] == str(second.pk)
