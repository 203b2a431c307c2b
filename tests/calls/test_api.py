"""The JSON API, /status and /metrics: token auth, data, and the Prometheus text format."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from calls.api import tokens
from calls.models import ApiToken

from .conftest import make_call

ENDPOINTS = ["/api/calls", "/status", "/metrics"]


@pytest.fixture
def token(db, staff_user) -> str:
    return tokens.mint("prometheus", created_by=staff_user)[1]


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ENDPOINTS)
def test_no_token_is_401_with_a_bearer_challenge(client, url):
    response = client.get(url)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ENDPOINTS)
def test_unknown_or_malformed_token_is_401_and_revoked_token_is_403(client, token, url):
    """Thrown at it: a made-up token, a Basic header, an empty Bearer, a 10 kB token.
    Survives: 401 each time, nothing leaks; a revoked real token gets 403."""
    for header in ("Bearer cc_madeup", "Basic YWRtaW46YWRtaW4=", "Bearer ", "Bearer " + "x" * 10_000):
        assert client.get(url, HTTP_AUTHORIZATION=header).status_code == 401, header
    assert client.get(url, **bearer(token)).status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    response = client.get(url, **bearer(token))
    assert response.status_code == 403 and "revoked" in response.json()["error"]


@pytest.mark.django_db
def test_only_a_hash_of_the_token_is_stored_and_use_is_recorded(client, token):
    row = ApiToken.objects.get()
    assert token not in (row.token_hash, row.prefix) and row.prefix == token[:10]
    assert row.last_used_at is None
    client.get("/status", **bearer(token))
    row.refresh_from_db()
    assert row.last_used_at is not None


@pytest.mark.django_db
def test_staff_session_can_read_the_api_but_a_non_staff_session_cannot(staff_client, plain_user):
    assert staff_client.get("/api/calls").status_code == 200
    other = Client()
    other.force_login(plain_user)
    assert other.get("/api/calls").status_code == 401


@pytest.mark.django_db
def test_api_calls_lists_newest_first_with_filters_and_a_next_link(client, token, agent):
    now = timezone.now()
    calls = [
        make_call(agent=agent, carrier="plivo", started_at=now - timedelta(minutes=i), transcript=False)
        for i in range(5)
    ]
    make_call(agent=agent, carrier="twilio", transcript=False)
    first = client.get("/api/calls?carrier=plivo&limit=3", **bearer(token)).json()
    assert [c["id"] for c in first["calls"]] == [str(c.pk) for c in calls[:3]]
    assert first["calls"][0]["agent"] == "Support" and first["calls"][0]["duration_seconds"] == 30.0
    second = client.get(first["next"], **bearer(token)).json()
    assert [c["id"] for c in second["calls"]] == [str(c.pk) for c in calls[3:]]
    assert second["next"] is None


@pytest.mark.django_db
def test_api_call_detail_has_transcript_metrics_tools_and_recording(client, token, agent):
    call = make_call(
        agent=agent, metrics={"first_response_ms": 700.0, "turns": 2}, tools=True, recording_seconds=0.5
    )
    data = client.get(f"/api/calls/{call.pk}", **bearer(token)).json()
    assert [s["speaker"] for s in data["transcript"]] == ["agent", "caller", "agent"]
    assert data["metrics"]["first_response_ms"] == 700.0 and data["metrics"]["turns"] == 2
    assert data["tool_invocations"][0]["arguments"] == {"order_id": "1234"}
    assert data["recording"]["url"].endswith(f"/calls/{call.pk}/recording.wav")
    assert data["tokens"] == {
        "prompt": 120,
        "response": 80,
        "total": 200,
        "input": {"AUDIO": 0, "TEXT": 0},
        "output": {"AUDIO": 0, "TEXT": 0},
    }
    assert data["cost"] is None  # no price configured: unknown, not zero
    assert client.get("/api/calls/00000000-0000-0000-0000-000000000000", **bearer(token)).status_code == 404


@pytest.mark.django_db
def test_status_counts_live_calls(client, token, agent):
    make_call(agent=agent, status="ringing", transcript=False)
    make_call(agent=agent, status="in_progress", transcript=False)
    make_call(agent=agent, status="in_progress", transcript=False)
    make_call(agent=agent, status="completed", transcript=False)
    data = client.get("/status", **bearer(token)).json()
    assert (data["calls_ringing"], data["calls_in_progress"], data["calls_today"]) == (1, 2, 4)
    assert data["mode"] == "embedded" and data["spooled_jobs"] == 0


SAMPLE_RE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"\\]*(\\.[^"\\]*)*",?)*\})? -?[0-9.e+-]+$')


@pytest.mark.django_db
def test_metrics_is_valid_prometheus_text(client, token, agent):
    make_call(
        agent=agent, carrier="twilio", metrics={"first_response_ms": 500.0, "barge_ins": 2}, transcript=False
    )
    make_call(agent=agent, carrier="plivo", status="in_progress", transcript=False)
    response = client.get("/metrics", **bearer(token))
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    assert text.endswith("\n")
    families = {}
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            families[name] = kind
        elif not line.startswith("#"):
            assert SAMPLE_RE.match(line), line
    assert families["contactcenter_calls"] == "gauge"
    assert 'contactcenter_calls{carrier="twilio",status="completed"} 1' in text
    assert 'contactcenter_calls_live{status="in_progress"} 1' in text
    assert 'contactcenter_first_response_seconds{stat="p95"} 0.5' in text
    assert "contactcenter_barge_ins_today 2" in text


@pytest.mark.django_db
def test_health_stays_open(client):
    assert client.get("/health").json() == {"status": "ok"}


@pytest.mark.django_db
def test_admin_creates_a_token_shows_it_once_and_revokes_it(staff_client):
    response = staff_client.post("/admin/calls/apitoken/add/", {"name": "grafana"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    token = re.search(r"(cc_[A-Za-z0-9_-]+)", shown[0]).group(1)
    row = ApiToken.objects.get(name="grafana")
    assert row.created_by.username == "staff" and row.token_hash == tokens.hash_token(token)
    assert Client().get("/status", **bearer(token)).status_code == 200
    staff_client.post(
        "/admin/calls/apitoken/", {"action": "revoke", "_selected_action": [row.pk]}, follow=True
    )
    assert Client().get("/status", **bearer(token)).status_code == 403
