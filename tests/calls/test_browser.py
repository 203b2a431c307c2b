"""The dashboard in real headless Chromium against the live daphne server.

Signs in, opens the history, filters it, opens a call and plays (and seeks) its recording, watches a
live call appear and end over the WebSocket. Screenshots go to test-artifacts/ (TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call
from tests.conftest import ARTIFACTS
from tests.support.chromium import CHROMIUM, FLAGS

from .conftest import make_call, minutes_into_the_day

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium")
SHOTS = ARTIFACTS / "dashboard"


@pytest.fixture(scope="module")
def browser(daphne_server):
    """Chromium for this module (asks for the server first, so daphne never inherits the flag below)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are plain
    # synchronous code all the same, so tell Django's async-safety check (for this module only).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, daphne_server):
    context = browser.new_context(base_url=daphne_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, next_path: str) -> None:
    page.goto(next_path)
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "staff")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")


@pytest.mark.django_db(transaction=True)
def test_sign_in_history_filter_detail_and_play_the_recording(page, staff_user, agent):
    now = minutes_into_the_day()
    twilio = make_call(
        agent=agent, carrier="twilio", from_number="+14155550111", started_at=now - timedelta(minutes=9)
    )
    target = make_call(
        agent=agent,
        carrier="plivo",
        from_number="+442071838750",
        started_at=now - timedelta(minutes=5),
        metrics={"first_response_ms": 735.0, "turns": 3, "barge_ins": 1},
        tools=True,
        recording_seconds=3.0,
        end_reason="agent ended the call",
    )
    sign_in(page, "/calls/")
    rows = page.locator("#calls tbody tr[data-call]")
    assert rows.count() == 2
    shot(page, "01-history")

    page.select_option("select[name=carrier]", "plivo")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**carrier=plivo**")
    assert page.locator("#calls tbody tr[data-call]").count() == 1
    assert page.locator(f'tr[data-call="{target.pk}"]').count() == 1
    assert page.locator(f'tr[data-call="{twilio.pk}"]').count() == 0
    shot(page, "02-history-filtered")

    page.click(f'tr[data-call="{target.pk}"] a')
    page.wait_for_url(f"**/calls/{target.pk}/")
    turns = page.locator("#transcript li")
    assert turns.count() == 3 and "status of my order" in turns.nth(1).inner_text()
    assert "735 ms" in page.locator("#metrics").inner_text()
    assert "lookup_order" in page.locator("#tools").inner_text()
    assert page.locator("#end-reason").inner_text() == "agent ended the call"

    # Play the recording, then seek into it (the player fetches byte ranges for that).
    played = page.evaluate(
        """async () => {
            const audio = document.getElementById("recording");
            audio.muted = true;
            await audio.play();
            await new Promise(r => { const t = () => audio.currentTime > 0.3 ? r() : setTimeout(t, 50); t(); });
            audio.currentTime = 2.0;
            await new Promise(r => audio.addEventListener("seeked", r, {once: true}));
            return {duration: audio.duration, time: audio.currentTime, error: audio.error && audio.error.code};
        }"""
    )
    assert played["error"] is None
    assert played["duration"] == pytest.approx(3.0, abs=0.05) and played["time"] >= 2.0
    shot(page, "03-call-detail")

    page.goto("/overview/")
    assert page.locator("#calls-per-day rect.bar.answered").count() == 14
    assert page.locator('#calls-per-day rect.bar.answered[data-total="2"]').count() == 1
    shot(page, "04-overview")


@pytest.mark.django_db(transaction=True)
def test_a_live_call_appears_and_ends_without_a_reload(page, staff_user, agent):
    sign_in(page, "/live/")
    page.wait_for_selector("#live-state.on")
    page.evaluate("window.notReloaded = true")
    call = make_call(
        agent=agent, carrier="asterisk", status="in_progress", from_number="+14155550177", transcript=False
    )
    row = page.locator(f'tr[data-call="{call.pk}"]')
    row.wait_for()
    assert "+14155550177" in row.inner_text() and "In progress" in row.inner_text()
    assert "Asterisk" in row.inner_text() and "in_progress" not in row.inner_text()
    shot(page, "05-live-call")

    Call.objects.filter(pk=call.pk).update(status="completed", ended_at=timezone.now())
    row.wait_for(state="detached")
    assert page.evaluate("window.notReloaded") is True
    assert "No calls right now" in page.locator("#live-calls").inner_text()
    shot(page, "06-live-ended")


@pytest.mark.django_db(transaction=True)
def test_live_shows_each_calls_last_lines_as_they_are_saved(page, staff_user, agent):
    """Thrown: two calls in progress whose lines are saved during the call (as the engine saves them,
    from any process). Seen on /live/, without a reload: each call's last three lines under its row,
    speakers labelled, the oldest dropping off as new ones come; a call with none says so."""
    from calls.models import TranscriptSegment

    talking = make_call(agent=agent, status="in_progress", from_number="+14155550161", transcript=False)
    quiet = make_call(agent=agent, status="in_progress", from_number="+14155550162", transcript=False)
    sign_in(page, "/live/")
    page.wait_for_selector("#live-state.on")
    page.evaluate("window.notReloaded = true")
    lines = page.locator(f'tr[data-lines="{talking.pk}"]')
    assert "Nothing said yet." in lines.inner_text()
    said = [
        ("agent", "Thanks for calling, how can I help?"),
        ("caller", "My parcel never arrived."),
        ("agent", "Sorry to hear that, what is the order number?"),
        ("caller", "It is four four seven one."),
    ]
    for seq, (speaker, text) in enumerate(said[:2]):
        TranscriptSegment.objects.create(
            call=talking, seq=seq, speaker=speaker, text=text, start_ms=seq * 2000
        )
    page.wait_for_function(
        f"document.querySelector('tr[data-lines=\"{talking.pk}\"]').innerText.includes('never arrived')"
    )
    text = lines.inner_text()
    assert "Agent Thanks for calling" in text and "Caller My parcel never arrived." in text
    for seq, (speaker, text) in list(enumerate(said))[2:]:
        TranscriptSegment.objects.create(
            call=talking, seq=seq, speaker=speaker, text=text, start_ms=seq * 2000
        )
    page.wait_for_function(
        f"document.querySelector('tr[data-lines=\"{talking.pk}\"]').innerText.includes('four four seven')"
    )
    text = lines.inner_text()
    assert "Thanks for calling" not in text and text.index("never arrived") < text.index("four four seven")
    assert "Nothing said yet." in page.locator(f'tr[data-lines="{quiet.pk}"]').inner_text()
    assert page.evaluate("window.notReloaded") is True
    shot(page, "05b-live-lines")


@pytest.mark.django_db(transaction=True)
def test_a_live_calls_page_shows_the_transcript_as_it_is_saved_then_the_stored_call(page, staff_user, agent):
    """A supervisor opens a call in progress: lines saved during the call (as the engine saves them,
    every few seconds, from any process) appear without a reload, a supervisor line too; when the
    call ends the page turns into the stored call."""
    from calls.models import TranscriptSegment

    call = make_call(agent=agent, status="in_progress", from_number="+14155550188", transcript=False)
    sign_in(page, f"/calls/{call.pk}/")
    page.wait_for_selector("#transcript-live")
    page.evaluate("window.notReloaded = true")
    TranscriptSegment.objects.create(
        call=call, seq=0, speaker="agent", text="Hello, how can I help?", start_ms=0
    )
    TranscriptSegment.objects.create(
        call=call, seq=1, speaker="caller", text="Where is my parcel?", start_ms=2100, end_ms=3000
    )
    page.locator("#transcript li.turn-caller").wait_for()
    assert "Where is my parcel?" in page.locator("#transcript").inner_text()
    assert page.evaluate("window.notReloaded") is True
    TranscriptSegment.objects.create(
        call=call, seq=2, speaker="supervisor", text="sup: offer a refund", start_ms=4000
    )
    page.locator("#transcript li.turn-supervisor").wait_for()
    assert page.locator("#transcript li").count() == 3
    shot(page, "07-live-transcript")

    Call.objects.filter(pk=call.pk).update(status="completed", ended_at=timezone.now())
    page.wait_for_function("window.notReloaded === undefined")
    assert page.locator("#transcript-live").count() == 0 and page.locator("#whisper").count() == 0
    assert "Completed" in page.locator(".status").first.inner_text()


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_at_390_px_wide_with_integer_chart_ticks_and_no_404(
    browser, daphne_server, staff_user, agent
):
    """Thrown: a phone-sized window (390 px) on the history, a call page, /live/ and the overview, with
    one or two calls a day (the case whose axis read 0, 1, 1). Survived: no page scrolls sideways (the
    calls table scrolls in its own box), the chart's ticks are distinct integers, the call page shows
    the model and voice the call used, and no request (the favicon included) gets a 404."""
    now = minutes_into_the_day()
    call = make_call(agent=agent, carrier="plivo", started_at=now - timedelta(minutes=3))
    make_call(agent=agent, carrier="twilio", started_at=now - timedelta(minutes=2))
    make_call(agent=agent, carrier="asterisk", status="in_progress", transcript=False)
    context = browser.new_context(base_url=daphne_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    try:
        sign_in(page, "/calls/")
        for path, name in (("/calls/", "07-history-390"), (f"/calls/{call.pk}/", "08-call-390"),
                           ("/live/", "09-live-390"), ("/overview/", "10-overview-390")):  # fmt: skip
            page.goto(path)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide"
            shot(page, name)
            if path == "/overview/":
                ticks = page.eval_on_selector_all(
                    "#calls-per-day text[data-tick]", "els => els.map(e => e.textContent)"
                )
                assert ticks == sorted(set(ticks), key=int) and all(t.isdigit() for t in ticks), ticks
                assert len(ticks) >= 2, ticks
            if path.startswith(f"/calls/{call.pk}"):
                assert call.agent_snapshot["voice"] in page.locator("#agent-config").inner_text()
        page.goto("/favicon.ico")
        assert not missing, missing
    finally:
        context.close()


@pytest.mark.django_db(transaction=True)
def test_admin_versions_diff_publish_roll_back_and_suite_results(page, staff_user, agent):
    """Thrown: an agent published as v1, its greeting edited, a stored suite run with a failing case.
    Seen in Chromium, as a staff member uses it: the versions page shows the draft's change as a diff
    (old line removed, new line added), "Publish the draft" makes v2 the one in use, "Use this version"
    on v1 rolls back; the suite run's page shows each case's verdict, why it failed, and its call."""
    from agents import versions
    from agents.models import AgentTestCase, AgentTestRun

    versions.publish(agent, "staff", "first")
    agent.refresh_from_db()
    agent.greeting = "Hi, you reached Example Corp support. What can I do for you?"
    agent.save()
    sign_in(page, "/calls/")
    page.goto(f"/admin/agents/agent/{agent.pk}/versions/")
    removed = page.locator("#draft-diff .del")
    added = page.locator("#draft-diff .add")
    assert "Hello, thanks for calling Example Corp" in removed.inner_text()
    assert "What can I do for you?" in added.inner_text()
    assert removed.evaluate("e => getComputedStyle(e).color") != added.evaluate(
        "e => getComputedStyle(e).color"
    )
    shot(page, "11-admin-versions-draft")
    page.fill("#note", "friendlier greeting")
    page.click("#publish input[type=submit]")
    page.locator("text=Published v2").wait_for()
    assert "v2 (in use)" in page.locator("#v2").inner_text() and "friendlier greeting" in page.inner_text(
        "#v2"
    )
    page.locator("#v1 input[value='Use this version']").click()
    page.locator("text=use v1 again").wait_for()
    assert (
        "(in use)" in page.locator("#v1").inner_text() and "(in use)" not in page.locator("#v2").inner_text()
    )
    shot(page, "12-admin-versions-rolled-back")

    AgentTestCase.objects.create(agent=agent, name="order status", caller_lines="where is my order")
    call = make_call(agent=agent, carrier="test", transcript=False)
    run = AgentTestRun.objects.create(
        agent=agent,
        version="draft",
        passed=False,
        results=[
            {"case": "order status", "passed": True, "failures": [], "call_id": str(call.pk)},
            {"case": "opening hours", "passed": False, "failures": ["never said 'closed on sundays'"],
             "call_id": str(call.pk)},
        ],
    )  # fmt: skip
    page.goto("/admin/agents/agenttestrun/")
    assert "1 of 2 passed" in page.inner_text("#result_list")
    page.goto(f"/admin/agents/agenttestrun/{run.pk}/change/")
    assert "PASS order status" in page.inner_text("li.pass")
    failed = page.inner_text("li.fail")
    assert "FAIL opening hours" in failed and "never said 'closed on sundays'" in failed
    shot(page, "13-admin-suite-run")
    page.click("li.fail a")
    page.wait_for_url(f"**/calls/{call.pk}/")
