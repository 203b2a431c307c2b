"""The staff dashboard through Django's test client: access, history, filters, detail, overview, CSV."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import Agent
from calls.models import Call

from .conftest import make_call

PAGES = ["/", "/calls/", "/overview/", "/live/", "/calls.csv"]

pytestmark = pytest.mark.production  # also run against PostgreSQL in CI


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_signed_in_non_staff_users_get_403(client, plain_user, url):
    client.force_login(plain_user)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_call_detail_and_recording_are_staff_only(client, plain_user, agent):
    call = make_call(agent=agent, recording_seconds=0.5)
    for url in (f"/calls/{call.pk}/", f"/calls/{call.pk}/recording.wav"):
        assert client.get(url).status_code == 302
    client.force_login(plain_user)
    for url in (f"/calls/{call.pk}/", f"/calls/{call.pk}/recording.wav"):
        assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_login_page_signs_staff_in_and_lands_on_the_history(client, staff_user):
    page = client.get("/accounts/login/?next=/calls/")
    assert page.status_code == 200 and b"Sign in" in page.content
    response = client.post(
        "/accounts/login/", {"username": "staff", "password": "correct horse battery", "next": "/calls/"}
    )
    assert response.status_code == 302 and response["Location"] == "/calls/"
    assert client.get("/calls/").status_code == 200


@pytest.mark.django_db
def test_history_is_newest_first(staff_client, agent):
    now = timezone.now()
    old = make_call(
        agent=agent, from_number="+14155550001", started_at=now - timedelta(hours=2), transcript=False
    )
    new = make_call(
        agent=agent, from_number="+14155550002", started_at=now - timedelta(minutes=1), transcript=False
    )
    html = staff_client.get("/calls/").content.decode()
    assert html.index(str(new.pk)) < html.index(str(old.pk))


@pytest.mark.django_db
def test_history_filters_by_agent_carrier_direction_status_and_date(staff_client, agent):
    other_agent = Agent.objects.create(name="Sales", system_prompt="Sell.", greeting="Hi.")
    now = timezone.now()
    a = make_call(agent=agent, carrier="twilio", transcript=False)
    b = make_call(agent=other_agent, carrier="plivo", transcript=False)
    c = make_call(agent=agent, carrier="sip", direction="outbound", status="failed", transcript=False)
    d = make_call(agent=agent, carrier="twilio", started_at=now - timedelta(days=10), transcript=False)

    def shown(query: str) -> set[str]:
        html = staff_client.get(f"/calls/?{query}").content.decode()
        return {str(x.pk) for x in (a, b, c, d) if str(x.pk) in html}

    assert shown(f"agent={other_agent.pk}") == {str(b.pk)}
    assert shown("carrier=plivo") == {str(b.pk)}
    assert shown("direction=outbound") == {str(c.pk)}
    assert shown("status=failed") == {str(c.pk)}
    assert shown(f"date_to={(now - timedelta(days=5)).date()}") == {str(d.pk)}
    assert shown(f"date_from={(now - timedelta(days=1)).date()}&carrier=twilio") == {str(a.pk)}


@pytest.mark.django_db
def test_bad_filter_values_are_ignored_not_an_error(staff_client, agent):
    """Thrown at it: a non-numeric agent, an unknown status, an impossible date, a garbage cursor.
    Survives: the page renders (200) and shows the call, ignoring what it could not use."""
    call = make_call(agent=agent, transcript=False)
    response = staff_client.get("/calls/?agent=x&status=nope&date_from=2024-13-45&before=garbage~zz&after=~")
    assert response.status_code == 200 and str(call.pk) in response.content.decode()


@pytest.mark.django_db
def test_search_by_number_matches_caller_or_called_number(staff_client, agent):
    a = make_call(agent=agent, from_number="+442071838750", to_number="+14155550199", transcript=False)
    b = make_call(agent=agent, from_number="+14155550123", to_number="+33142685300", transcript=False)
    html = staff_client.get("/calls/?q=2071838").content.decode()
    assert str(a.pk) in html and str(b.pk) not in html
    html = staff_client.get("/calls/?q=%2B3314268").content.decode()
    assert str(b.pk) in html and str(a.pk) not in html


@pytest.mark.django_db
def test_search_finds_words_said_in_transcripts_and_summaries_and_marks_them(staff_client, agent):
    """Thrown: a phrase typed into the history's search. Seen: the calls where it was said (any case, as a
    phrase of whole words) or where the summary holds it, not calls with the words apart or inside others;
    the call page it links to marks the phrase; an edited and a deleted call stop matching."""
    from calls.models import TranscriptSegment

    def said(call, *lines):
        for i, text in enumerate(lines):
            TranscriptSegment.objects.create(call=call, speaker="caller", text=text, seq=i, start_ms=i * 1000)

    spoken = make_call(agent=agent, transcript=False)
    said(spoken, "Hello there.", "Your ORDER number is 4471, I think.")
    summarised = make_call(agent=agent, transcript=False)
    Call.objects.filter(pk=summarised.pk).update(summary="The caller asked where their order number was.")
    apart = make_call(agent=agent, transcript=False)
    said(apart, "The number of the order was wrong.")
    inside = make_call(agent=agent, transcript=False)
    said(inside, "Please reorder numbers on the list.")

    def shown(term: str) -> set[str]:
        page = staff_client.get("/calls/", {"q": term}).context["page"]
        return {str(c.pk) for c in page.calls}

    assert shown("order number") == {str(spoken.pk), str(summarised.pk)}
    assert shown("Order, NUMBER!") == {str(spoken.pk), str(summarised.pk)}  # punctuation and case ignored
    assert shown("4471") == {str(spoken.pk)}
    assert shown("!!!") == set() and shown("refund") == set()

    html = staff_client.get("/calls/", {"q": "order number"}).content.decode()
    assert f"/calls/{spoken.pk}/?q=order%20number" in html
    page = staff_client.get(f"/calls/{spoken.pk}/", {"q": "order number"}).content.decode()
    assert "Your <mark>ORDER number</mark> is 4471" in page
    page = staff_client.get(f"/calls/{summarised.pk}/", {"q": '"order number"'}).content.decode()
    assert "their <mark>order number</mark> was" in page

    TranscriptSegment.objects.filter(call=spoken).update(text="Nothing to see.")
    Call.objects.filter(pk=summarised.pk).update(summary="")
    assert shown("order number") == set()
    TranscriptSegment.objects.create(call=apart, speaker="agent", text="Your order number, please?", seq=5)
    assert shown("order number") == {str(apart.pk)}
    apart.delete()
    assert shown("order number") == set()


BULK_COLUMNS = (
    "id, carrier, direction, from_number, to_number, agent_id, agent_snapshot, carrier_call_id, status, "
    "started_at, end_reason, tokens_prompt, tokens_response, tokens_total, media_token_hash, "
    "media_token_used, variables, summary, extracted, process"
)
BULK_SQL = {
    # Pairs of calls share a start time (i / 2), so the keyset's tie-break on id is exercised.
    "sqlite": f"""
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %s - 1)
        INSERT INTO calls_call ({BULK_COLUMNS})
        SELECT lower(hex(randomblob(16))),
               CASE i % 4 WHEN 0 THEN 'twilio' WHEN 1 THEN 'plivo' WHEN 2 THEN 'sip' ELSE 'asterisk' END,
               'inbound', printf('+1415%%07d', i), '+14155550199', %s, '{{}}', '',
               CASE WHEN i % 5 = 0 THEN 'failed' ELSE 'completed' END,
               datetime('now', printf('-%%d seconds', (i / 2) * 26)), '', 0, 0, 0, '', 0, '{{}}', '', '{{}}', ''
        FROM n""",
    "postgresql": f"""
        INSERT INTO calls_call ({BULK_COLUMNS})
        SELECT gen_random_uuid(), (ARRAY['twilio', 'plivo', 'sip', 'asterisk'])[mod(i, 4) + 1],
               'inbound', '+1415' || lpad(i::text, 7, '0'), '+14155550199', %s, '{{}}', '',
               CASE WHEN mod(i, 5) = 0 THEN 'failed' ELSE 'completed' END,
               now() - ((i / 2) * 26) * interval '1 second', '', 0, 0, 0, '', false, '{{}}', '', '{{}}', ''
        FROM generate_series(0, %s - 1) AS i""",
}


def _bulk_calls(agent, n: int) -> None:
    """n calls over the last month, in one INSERT ... SELECT (bulk_create takes ~9 s for 100,000)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(BULK_SQL["sqlite"], [n, agent.pk])
        else:
            cursor.execute(BULK_SQL["postgresql"], [agent.pk, n])


@pytest.mark.django_db
def test_history_at_100000_calls_costs_a_fixed_number_of_queries(
    staff_client, agent, django_assert_max_num_queries
):
    """Keyset pagination: the first page and a deep page each cost the same few queries at 100,000 calls."""
    started = time.perf_counter()
    _bulk_calls(agent, 100_000)
    print(f"created 100,000 calls in {time.perf_counter() - started:.1f} s")
    # session, user, agent choices, capped count, one page of calls (agent joined)
    with django_assert_max_num_queries(5):
        first = staff_client.get("/calls/")
    assert first.status_code == 200 and b"10000+ calls" in first.content
    older = first.context["page"].older
    seen = {c.pk for c in first.context["page"].calls}
    cursor = older
    for _ in range(3):  # walk a few pages: no overlap, no gaps, same cost
        with django_assert_max_num_queries(5):
            page = staff_client.get("/calls/", {"before": cursor, "carrier": "plivo"}).context["page"]
        ids = {c.pk for c in page.calls}
        assert len(ids) == 50 and not ids & seen
        assert all(c.carrier == "plivo" for c in page.calls)
        seen |= ids
        cursor = page.older
    second = staff_client.get("/calls/", {"before": older}).context["page"]
    with django_assert_max_num_queries(5):
        back = staff_client.get("/calls/", {"after": second.newer}).context["page"]
    assert [c.pk for c in back.calls] == [c.pk for c in first.context["page"].calls]
    assert back.newer is None  # the first page has nothing newer
    # The overview reads the same 100,000 rows in a fixed number of queries too.
    with django_assert_max_num_queries(5):
        stats = staff_client.get("/overview/", {"days": "90"}).context["stats"]
    assert stats["total"] == 100_000 and sum(d["total"] for d in stats["per_day"]) == 100_000


@pytest.mark.django_db
def test_call_detail_shows_conversation_recording_metrics_tools_and_end_reason(staff_client, agent):
    call = make_call(
        agent=agent,
        metrics={"first_response_ms": 812.0, "p95_turn_latency_ms": 950.0, "turns": 3, "barge_ins": 1},
        tools=True,
        recording_seconds=1.0,
        end_reason="agent ended the call",
    )
    html = staff_client.get(f"/calls/{call.pk}/").content.decode()
    assert (
        html.index("Hello, thanks for calling")
        < html.index("status of my order")
        < html.index("ships tomorrow")
    )
    assert "1:05" in html  # the third turn, 65 s after the answer
    assert f'src="/calls/{call.pk}/recording.wav"' in html
    assert "812 ms" in html and "950 ms" in html
    assert (
        "lookup_order" in html
        and "&quot;order_id&quot;: &quot;1234&quot;" in html
        and "ships tomorrow" in html
    )
    assert "agent ended the call" in html


@pytest.mark.django_db
def test_unknown_call_is_404(staff_client):
    assert staff_client.get(f"/calls/{uuid.uuid4()}/").status_code == 404
    assert staff_client.get(f"/calls/{uuid.uuid4()}/recording.wav").status_code == 404


@pytest.mark.django_db
def test_overview_counts_calls_per_day_answer_rate_and_latency(staff_client, agent):
    now = timezone.now()
    for ms in (100.0, 200.0, 300.0, 400.0, 1000.0):
        make_call(agent=agent, transcript=False, metrics={"first_response_ms": ms, "barge_ins": 1})
    make_call(agent=agent, status="no_answer", transcript=False)
    make_call(agent=agent, transcript=False, started_at=now - timedelta(days=1))
    response = staff_client.get("/overview/?days=7")
    stats = response.context["stats"]
    assert stats["total"] == 7 and stats["answered"] == 6
    assert stats["mean_first_response_ms"] == pytest.approx(400.0)
    assert stats["p95_first_response_ms"] == 1000.0
    assert stats["barge_ins"] == 5
    assert [d["total"] for d in stats["per_day"]][-2:] == [1, 6]
    assert stats["agents"][0]["agent"] == "Support" and stats["agents"][0]["total"] == 7
    html = response.content.decode()
    assert 'id="calls-per-day"' in html and "per-day-data" in html and "86%" in html


@pytest.mark.django_db
def test_csv_export_has_every_filtered_call_and_defuses_formulas(staff_client, agent):
    """Thrown at it: a caller id that a spreadsheet would run as a formula.
    Survives: the cell is prefixed with a quote; real phone numbers are left alone."""
    make_call(agent=agent, carrier="plivo", from_number='=HYPERLINK("http://x")', transcript=False)
    make_call(
        agent=agent,
        carrier="plivo",
        from_number="+14155550123",
        transcript=False,
        metrics={"first_response_ms": 640.0},
    )
    make_call(agent=agent, carrier="twilio", transcript=False)
    response = staff_client.get("/calls.csv?carrier=plivo")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2 and {r["carrier"] for r in rows} == {"plivo"}
    numbers = {r["from_number"] for r in rows}
    assert numbers == {'\'=HYPERLINK("http://x")', "+14155550123"}
    assert {r["first_response_ms"] for r in rows} == {"640.0", ""}
    assert rows[0]["agent"] == "Support"
    from calls.display import when

    newest = Call.objects.filter(carrier="plivo").order_by("-started_at").first()
    assert rows[0]["started_at"] == when(newest.started_at)  # the same time format as every page


@pytest.mark.django_db
def test_live_page_lists_ringing_and_in_progress_calls_only(staff_client, agent):
    live = make_call(agent=agent, status="in_progress", transcript=False)
    done = make_call(agent=agent, status="completed", transcript=False)
    html = staff_client.get("/live/").content.decode()
    assert str(live.pk) in html and str(done.pk) not in html
    assert "dashboard/live.js" in html


@pytest.mark.django_db
def test_problems_filter_shows_every_call_that_went_wrong_and_flags_silent_agents(staff_client, agent):
    """A supervisor looking for trouble: failed, refused, crashed (process ended), an agent that never
    spoke and a caller whose audio never arrived all show under "Problems"; a normal call does not. A
    "Completed" call whose agent never spoke carries a visible flag in the history."""
    fine_metrics = {"frames_in": 500, "frames_out": 400}
    fine = make_call(agent=agent, transcript=False, metrics=fine_metrics)
    failed = make_call(agent=agent, status="failed", end_reason="Gemini unavailable", transcript=False)
    refused = make_call(agent=agent, status="refused", end_reason="no agent (unknown)", transcript=False)
    crashed = make_call(agent=agent, status="failed", end_reason="process ended", transcript=False)
    mute_agent = make_call(agent=agent, transcript=False, metrics={"frames_in": 500, "frames_out": 0})
    deaf_line = make_call(agent=agent, transcript=False, metrics={"frames_in": 0, "frames_out": 400})
    everyone = (fine, failed, refused, crashed, mute_agent, deaf_line)

    def shown(query: str) -> set:
        html = staff_client.get(f"/calls/?{query}").content.decode()
        return {c for c in everyone if str(c.pk) in html}

    assert shown("outcome=problems") == {failed, refused, crashed, mute_agent, deaf_line}
    assert shown("outcome=process_ended") == {crashed}
    assert shown("outcome=failed") == {failed}
    assert shown("outcome=silent_agent") == {mute_agent}
    assert shown("outcome=no_caller_audio") == {deaf_line}
    html = staff_client.get("/calls/").content.decode()
    row = html[html.index(f'data-call="{mute_agent.pk}"') :].split("</tr>")[0]
    assert "agent never spoke" in row
    row = html[html.index(f'data-call="{fine.pk}"') :].split("</tr>")[0]
    assert "status-problem" not in row
    # The JSON API takes the same filter.
    api = staff_client.get("/api/calls?outcome=problems").json()
    assert {c["id"] for c in api["calls"]} == {str(c.pk) for c in everyone if c is not fine}


@pytest.mark.django_db
def test_overview_sums_cost_per_agent_and_day_and_shows_a_dash_for_unpriced_calls(staff_client, agent):
    """Thrown at it: priced calls today and yesterday for one agent, and for a second agent a call that used
    tokens but has no price. Survived: the first agent's and each day's cost are the sums; a group holding
    an unpriced call shows "—" (no partial sum passed off as the total), also in the page."""
    from decimal import Decimal

    other = Agent.objects.create(name="Sales", system_prompt="Sell.")
    now = timezone.now()
    for cost, when in (("0.012500", now), ("0.030000", now), ("0.100000", now - timedelta(days=1))):
        call = make_call(agent=agent, transcript=False, started_at=when)
        Call.objects.filter(pk=call.pk).update(cost=Decimal(cost), tokens_total=1000)
    unpriced = make_call(agent=other, transcript=False, started_at=now - timedelta(days=1))
    Call.objects.filter(pk=unpriced.pk).update(tokens_total=500, cost_basis="no price for x")
    free = make_call(agent=other, transcript=False, started_at=now - timedelta(days=2))
    Call.objects.filter(pk=free.pk).update(tokens_total=0)  # no Gemini at all (refused): costs nothing
    response = staff_client.get("/overview/?days=7")
    stats = response.context["stats"]
    by_agent = {a["agent"]: a for a in stats["agents"]}
    assert by_agent["Support"]["cost"] == Decimal("0.1425")
    assert by_agent["Sales"]["cost"] is None and by_agent["Sales"]["unpriced"] == 1
    days = stats["per_day"]
    assert days[-1]["cost"] == Decimal("0.0425")
    assert days[-2]["cost"] is None and days[-2]["unpriced"] == 1
    assert days[-3]["cost"] == Decimal(0)
    assert stats["cost"] is None and stats["unpriced"] == 1
    html = response.content.decode()
    assert "0.1425" in html and "0.0425" in html and "1 call without a price" in html


@pytest.mark.django_db
def test_every_page_shows_a_time_one_way_and_labels_not_codes(staff_client, agent, settings):
    """Thrown: one live and one finished call, with TIME_ZONE set to a zone that is not UTC. Survived:
    the history, the call page and /live/ show the same 24-hour time with the zone, and /live/ shows
    "Asterisk" / "In progress" as the history does, not the codes "asterisk" / "in_progress"."""
    from datetime import UTC, datetime

    settings.TIME_ZONE = "Europe/Paris"
    started = datetime(2026, 7, 1, 13, 5, 9, tzinfo=UTC)  # 15:05:09 in Paris (CEST)
    done = make_call(agent=agent, carrier="asterisk", started_at=started)
    live = make_call(
        agent=agent, carrier="asterisk", status="in_progress", started_at=started, transcript=False
    )
    shown = "2026-07-01 15:05:09 CEST"
    assert shown in staff_client.get("/calls/").content.decode()
    assert shown in staff_client.get(f"/calls/{done.pk}/").content.decode()
    page = staff_client.get("/live/").content.decode()
    row = page.split(f'data-call="{live.pk}"', 1)[1].split("</tr>", 1)[0]
    assert shown in row and "Asterisk" in row and "In progress" in row and "in_progress" not in row, row


@pytest.mark.django_db
def test_call_page_shows_the_model_voice_and_prompt_the_call_used(staff_client, agent):
    """Thrown: a call, then the agent edited afterwards. Survived: the call page shows the model,
    voice and system prompt from the call's own snapshot, not the agent's current settings."""
    call = make_call(agent=agent)
    used_prompt = agent.system_prompt
    Agent.objects.filter(pk=agent.pk).update(system_prompt="An edit made after the call.", voice="Charon")
    html = staff_client.get(f"/calls/{call.pk}/").content.decode()
    config = html.split('id="agent-config"', 1)[1]
    assert call.agent_snapshot["model"] and call.agent_snapshot["model"] in config
    assert call.agent_snapshot["voice"] in config and "Charon" not in config
    assert used_prompt in html and "An edit made after the call." not in html


@pytest.mark.django_db
def test_favicon_is_answered_not_404(client):
    """Thrown: the browser's automatic /favicon.ico request. Survived: a redirect to the bundled icon,
    which every dashboard page also names in its head."""
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/dashboard/favicon.svg")
    assert 'rel="icon"' in client.get("/accounts/login/").content.decode()
