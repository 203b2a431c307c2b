"""`manage.py testagent`: an agent's simulated-caller cases run through the whole engine, the run is
stored and shown in the admin, and the command fails (exit 1) when a case does."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import AgentTestCase, AgentTestRun
from calls.models import Call

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cases(demo_agent):
    good = AgentTestCase.objects.create(
        agent=demo_agent,
        name="order status",
        caller_lines="i would like to check the status of my order\nthank you goodbye",
        must_say="has shipped",
        must_not_say="sorry",
        tool_called="end_call",
        ending=AgentTestCase.Ending.AGENT_ENDS,
        max_turns=6,
    )
    bad = AgentTestCase.objects.create(
        agent=demo_agent,
        name="opening hours",
        caller_lines="what are your opening hours",
        must_say="closed on sundays",
    )
    return good, bad


def test_a_passing_case_and_a_failing_one(demo_agent, cases, gemini, admin_client):
    """Thrown at it: one case the agent meets (order status, then goodbye: the agent ends the call)
    and one it cannot (it never says "closed on sundays"). Holds: the command prints PASS and FAIL with
    the reason and exits non-zero; run alone, the good case exits zero; both runs and their calls are
    stored and the admin shows the verdicts with links to the calls."""
    out = io.StringIO()
    with pytest.raises(CommandError) as failed_run:
        call_command("testagent", demo_agent.name, stdout=out)
    text = out.getvalue()
    assert "failed its tests (1 of 2 passed)" in str(failed_run.value), text
    assert "PASS  order status" in text and "FAIL  opening hours" in text
    assert "never said 'closed on sundays'" in text
    out = io.StringIO()
    call_command("testagent", str(demo_agent.pk), "--case", "order status", stdout=out)
    assert "1 of 1 passed" in out.getvalue()

    failed, passed = AgentTestRun.objects.order_by("started_at")
    assert (failed.passed, passed.passed, failed.version) == (False, True, "draft")
    calls = Call.objects.filter(carrier="test")
    assert calls.count() == 3 and all(c.agent_id == demo_agent.pk for c in calls)
    page = admin_client.get(f"/admin/agents/agenttestrun/{failed.pk}/change/").content.decode()
    assert "FAIL" in page and "never said" in page and f"/calls/{failed.results[0]['call_id']}/" in page


def test_an_agent_without_cases_says_what_to_do(demo_agent, gemini):
    with pytest.raises(CommandError, match="has no active test case: add some in the admin"):
        call_command("testagent", demo_agent.name, stdout=io.StringIO())
    with pytest.raises(CommandError, match="No agent 'nobody'"):
        call_command("testagent", "nobody", stdout=io.StringIO())


def test_an_agent_that_requires_passing_tests_refuses_to_publish_until_the_draft_passes(
    demo_agent, cases, gemini, admin_client
):
    """Thrown at it: "Publish only a tested draft" on, then Publish pressed on an untested draft, on a
    draft that failed its suite, and on one that passed it. Holds: the first two are refused with what
    to run (no version made), the third publishes; with the setting off a failing draft publishes
    with a warning."""
    from agents.models import AgentVersion

    demo_agent.require_passing_tests = True
    demo_agent.save()
    publish = f"/admin/agents/agent/{demo_agent.pk}/publish/"

    page = admin_client.post(publish, {"note": "untested"}, follow=True).content.decode()
    assert "Not published" in page and "has not been tested since its last edit" in page
    assert f"manage.py testagent {demo_agent.pk} --version draft" in page
    with pytest.raises(CommandError):
        call_command("testagent", demo_agent.name, "--version", "draft", stdout=io.StringIO())
    page = admin_client.post(publish, {"note": "failing"}, follow=True).content.decode()
    assert "Not published" in page and "failed its tests (1 of 2 passed)" in page
    assert not AgentVersion.objects.filter(agent=demo_agent).exists()

    cases[1].is_active = False  # the case the agent cannot meet is retired
    cases[1].save()
    call_command("testagent", demo_agent.name, "--version", "draft", stdout=io.StringIO())
    page = admin_client.post(publish, {"note": "tested"}, follow=True).content.decode()
    assert "Published v1" in page and "Not published" not in page

    cases[1].is_active = True
    cases[1].save()
    demo_agent.refresh_from_db()
    demo_agent.require_passing_tests = False
    demo_agent.greeting = "Hello again, how can I help?"
    demo_agent.save()
    page = admin_client.post(publish, {"note": "untested, allowed"}, follow=True).content.decode()
    assert "Published v2" in page and "Published although the draft has not been tested" in page


def test_a_persona_caller_played_by_a_second_live_session(demo_agent, gemini, settings):
    """Thrown at it: a case whose caller is a persona with talking points, no script. Holds: a second
    Live session plays the caller (its instruction carries the persona and the points), the two talk
    through the whole engine: the agent hears the persona's words, answers them, ends the call on its
    goodbye, and the case passes on the agent's transcript."""
    AgentTestCase.objects.create(
        agent=demo_agent,
        name="persona order status",
        persona="Sam, who ordered a lamp last week and wants to know where it is.",
        caller_lines="i would like to check the status of my order\nthank you goodbye",
        must_say="has shipped",
        ending=AgentTestCase.Ending.AGENT_ENDS,
    )
    before = len(gemini.sessions)
    out = io.StringIO()
    call_command("testagent", demo_agent.name, "--version", "draft", stdout=out)
    assert "PASS  persona order status" in out.getvalue(), out.getvalue()
    sessions = gemini.sessions[before:]
    persona = [s for s in sessions if "Sam, who ordered a lamp" in json.dumps(s.setup)]
    agent = [s for s in sessions if s not in persona]
    assert len(persona) == 1 and agent
    assert persona[0].setup["model"].endswith(settings.TEST_CALLER_MODEL)
    assert persona[0].said[:2] == ["i would like to check the status of my order", "thank you goodbye"]
    heard = " ".join(h for s in agent for h in s.heard)
    assert "status of my order" in heard and "goodbye" in heard  # the agent's side heard the persona
    call = Call.objects.filter(carrier="test").latest("started_at")
    caller = " ".join(call.segments.filter(speaker="caller").values_list("text", flat=True))
    assert "status of my order" in caller and call.end_reason.startswith("agent ended the call")
