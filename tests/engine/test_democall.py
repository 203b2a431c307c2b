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


def _caller_onsets_ms(call) -> list[int]:
    """Where the caller's speech runs begin in the stored recording (left channel), in ms."""
    import wave

    import numpy as np

    with call.recording.file.open("rb") as f, wave.open(f, "rb") as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    left = np.frombuffer(frames, dtype="<i2").reshape(-1, 2)[:, 0].astype(np.float64)
    step = rate // 50  # 20 ms
    rms = np.sqrt((left[: len(left) // step * step].reshape(-1, step) ** 2).mean(axis=1))
    onsets, last = [], None
    for i, value in enumerate(rms):
        if value >= 300:
            if last is None or i - last > 25:  # 0.5 s of quiet separates two utterances
                onsets.append(i * 20)
            last = i
    return onsets


@pytest.mark.django_db(transaction=True)
def test_democall_caller_waits_for_the_agent_and_is_timed_when_it_spoke(demo_agent, gemini):
    """Thrown: the default demo call (two phrases). Survived: the caller waits for each agent turn to
    end, so no barge-in is counted, and each caller segment starts when the caller's speech starts in
    the recording (not seconds later, when Gemini's transcription of it arrived)."""
    call_command("democall", "--to", "engine", stdout=io.StringIO())
    call = Call.objects.get()
    assert CallMetrics.objects.get(call=call).barge_ins == 0
    starts = list(
        call.segments.filter(speaker="caller").order_by("start_ms").values_list("start_ms", flat=True)
    )
    onsets = _caller_onsets_ms(call)
    assert len(starts) == 2 and len(onsets) == 2, (starts, onsets)
    for start, onset in zip(starts, onsets, strict=True):
        assert abs(start - onset) <= 400, (starts, onsets)
    agent_turns = call.segments.filter(speaker="agent").order_by("start_ms")
    assert agent_turns.first().start_ms < starts[0]  # the greeting came first, and the caller waited


@pytest.mark.django_db(transaction=True)
def test_democall_talk_over_still_demonstrates_barge_in(demo_agent, gemini):
    """Thrown: `--talk-over --wait 0.5`: the caller speaks over the greeting on purpose. Survived: the
    engine counts the barge-in and the call still ends normally."""
    call_command("democall", "--to", "engine", "--talk-over", "--wait", "0.5", stdout=io.StringIO())
    call = Call.objects.get()
    assert CallMetrics.objects.get(call=call).barge_ins >= 1
    assert call.status == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_demo_call_logs_no_broker_or_afc_noise(demo_agent, gemini, caplog, settings):
    """Thrown: a demo call in embedded mode with an after-call summary (a generateContent request).
    Survived: no kombu "No hostname was supplied" warning and no google-genai "AFC is enabled" line."""
    import logging

    caplog.set_level(logging.INFO)
    call_command("democall", "--to", "engine", "--say", "thank you goodbye", stdout=io.StringIO())
    assert Call.objects.get().status == "completed"
    noise = [
        r.getMessage()
        for r in caplog.records
        if "No hostname" in r.getMessage() or "AFC is" in r.getMessage()
    ]
    assert noise == [], noise


@pytest.mark.django_db(transaction=True)
def test_democall_says_how_to_install_flite_when_it_is_missing(demo_agent, gemini, monkeypatch, tmp_path):
    """Thrown at it: a PATH with no flite. Holds: democall stops before calling, naming the package
    and the command, instead of failing mid-call; no call is placed."""
    from django.core.management.base import CommandError

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CommandError, match="flite is not installed.*sudo apt-get install flite"):
        call_command("democall", "--to", "engine", stdout=io.StringIO())
    assert not Call.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_democall_exits_non_zero_when_the_call_failed(demo_agent, gemini, settings):
    """Thrown at it: Gemini unreachable. Holds: the caller hears the busy prompt, the call is stored as
    failed, and democall fails (exit status 1) saying why, so a script notices."""
    from django.core.management.base import CommandError

    settings.GEMINI_BASE_URL = "https://127.0.0.1:9"
    out = io.StringIO()
    with pytest.raises(CommandError, match="The call failed: Gemini unavailable"):
        call_command("democall", "--to", "engine", "--say", "hello", stdout=out)
    assert Call.objects.get().status == "failed"
