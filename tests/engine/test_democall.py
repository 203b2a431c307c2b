"""`manage.py democall`: a simulated caller talks to an agent; the call is stored like any other."""

import io

import pytest
from django.core.management import call_command

from calls.models import Call, CallMetrics, Recording


@pytest.mark.django_db(transaction=True)
def test_democall_prints_the_conversation_and_stores_the_call(demo_agent, gemini):
    out = io.StringIO()
    call_command("democall", "--to", "engine", "--wait", "3", stdout=out)
    text = out.getvalue()
    assert "caller says: i would like to check the status of my order" in text
    assert "agent: Hello, thanks for calling Example Corp" in text
    call = Call.objects.get()
    assert call.status == "completed" and call.end_reason.startswith("agent ended the call")
    assert call.started_at <= call.answered_at <= call.ended_at  # answered when the row began, not before
    speakers = list(call.segments.values_list("speaker", flat=True))
    assert speakers.count("caller") == 2 and speakers.count("agent") >= 3
    assert CallMetrics.objects.get(call=call).turns >= 3
    assert Recording.objects.get(call=call).duration_seconds > 5


@pytest.mark.django_db(transaction=True)
def test_democall_to_an_unbound_number_says_what_to_do(gemini):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no active agent is bound to sip 'nobody'"):
        call_command("democall", "--to", "nobody", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_consent_announcement_is_spoken_before_the_greeting(demo_agent, gemini):
    demo_agent.consent_announcement = "This call is recorded for quality."
    demo_agent.save()
    call_command(
        "democall", "--to", "engine", "--wait", "6", "--say", "thank you goodbye", stdout=io.StringIO()
    )
    first = Call.objects.get().segments.order_by("start_ms").first()
    assert first.speaker == "agent"
    assert first.text.lower().startswith("this call is recorded for quality. hello, thanks for calling")


def test_json_logs_carry_the_call_id():
    import json
    import logging

    from contactcenter.logging import CallContextFilter, JsonFormatter, call_context

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(CallContextFilter())
    log = logging.getLogger("test.callid")
    log.addHandler(handler)
    log.propagate = False
    with call_context("c0ffee"):
        log.warning("inside")
    log.warning("outside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(x["message"], x["call_id"]) for x in lines] == [("inside", "c0ffee"), ("outside", "-")]
