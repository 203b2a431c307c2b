"""A browser test call in real headless Chromium, its fake microphone fed with a flite WAV.

Signs in, opens an agent's test-call page, starts the call, sees the greeting turn and then the
caller's words (from the WAV) in the transcript, hangs up, and finds the stored Call (carrier
"browser") with its transcript. Screenshots go to test-artifacts/browser/ (TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from calls.models import Call
from tests.conftest import ARTIFACTS
from tests.support.chromium import CHROMIUM, FAKE_MICROPHONE, FLAGS

SHOTS = ARTIFACTS / "browser"
pytestmark = [
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def page(daphne_server, speech_wav):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's ORM calls are plain sync code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=[*FLAGS, *FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={speech_wav}"],
            )
            context = browser.new_context(
                base_url=daphne_server.url,
                permissions=["microphone"],
                viewport={"width": 1100, "height": 800},
            )
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
            context.close()
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def stored_call(call_id: str, timeout: float = 10.0) -> Call:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = Call.objects.filter(pk=call_id, metrics__final=True).first()
        if call:
            return call
        time.sleep(0.1)
    raise AssertionError("the call's records were never stored")


def test_a_test_call_from_the_browser(page, staff_user, call_agent):
    path = f"/browser/agents/{call_agent.pk}/call/"
    page.goto(path)
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "staff")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    assert page.locator("h1").inner_text().startswith(f"Test call: {call_agent.name}")
    shot(page, "01-test-call-page")

    page.click("#start")
    page.wait_for_selector("#call-state.on")
    greeting = page.locator('#transcript li[data-speaker="agent"]').first
    greeting.wait_for()
    assert "thanks for calling example corp" in greeting.inner_text().lower()
    shot(page, "02-greeting")

    caller = page.locator('#transcript li[data-speaker="caller"]').first
    caller.wait_for(timeout=30_000)
    assert "status of my order" in caller.inner_text().lower()
    stats = page.evaluate("window.browserCall")
    assert stats["framesSent"] > 100, "the microphone was not streamed"
    assert stats["framesReceived"] > 50 and stats["loudestFrameRms"] > 300, "no agent audio arrived"
    shot(page, "03-caller-heard")

    page.click("#hangup")
    page.wait_for_selector("#call-record:not([hidden])")
    assert page.locator("#call-state").inner_text() == "ended"
    assert page.locator("#start").is_enabled()
    assert page.locator("#call-record a").get_attribute("href") == f"/calls/{stats['callId']}/"
    shot(page, "04-hung-up")

    call = stored_call(stats["callId"])
    assert (call.carrier, call.from_number, call.to_number) == ("browser", "staff", call_agent.name)
    assert call.status == "completed" and call.end_reason == "caller hung up"
    speakers = [s.speaker for s in call.segments.all()]
    assert speakers[0] == "agent" and "caller" in speakers


def test_a_browser_call_hears_the_ai_disclosure_first_whole(page, staff_user, call_agent):
    """Thrown at it: an agent with the AI disclosure, and the fake microphone speaking 5 s in, over the
    opening. Holds: the transcript opens with the disclosure, the greeting after it is whole (the
    caller's words did not cut it), and the stored call records the disclosure as given."""
    from agents.models import DEFAULT_AI_DISCLOSURE

    call_agent.ai_disclosure = DEFAULT_AI_DISCLOSURE
    call_agent.save()
    path = f"/browser/agents/{call_agent.pk}/call/"
    page.goto(path)
    page.fill("input[name=username]", "staff")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    page.click("#start")
    page.wait_for_selector("#call-state.on")
    page.locator('#transcript li[data-speaker="caller"]').first.wait_for(timeout=45_000)
    stats = page.evaluate("window.browserCall")
    page.click("#hangup")
    page.wait_for_selector("#call-record:not([hidden])")
    call = stored_call(stats["callId"])
    said = list(call.segments.values_list("speaker", "text"))
    agent_lines = [text for speaker, text in said if speaker == "agent"]
    assert agent_lines[0].startswith(DEFAULT_AI_DISCLOSURE.rstrip(".")), said
    assert any(call_agent.greeting in line for line in agent_lines[:2]), said
    assert ("system", f"AI disclosure given: {DEFAULT_AI_DISCLOSURE}") in said
