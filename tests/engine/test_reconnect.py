"""Nothing said is lost across a Gemini reconnect (issue 14): real SDK, real engine, the emulator.

The emulator keeps only what a resumption handle holds: audio of an utterance it had not finished
hearing when a connection ended is gone from the resumed session, so the caller's question is
answered only if the engine resends the audio the old connection had not consumed
(`lastConsumedClientMessageIndex`). A reply cut by a forced reconnect is picked up only if the engine
asks the resumed session to continue it.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from emulators.gemini.testing import start_in_thread

from ..conftest import gemini_env
from .test_engine import segments, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

QUESTION = "i would like to check the status of my order"
ANSWER_WORD = "shipped"  # the scenario's answer: "Your order A12345 has shipped and should arrive tomorrow."


async def until_agent_says(line, emulator, sessions_before: int, word: str, timeout: float = 20.0) -> None:
    """Stream caller silence until the emulator has spoken `word` on a connection of this call."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(word in said.lower() for s in emulator.sessions[sessions_before:] for said in s.said):
        assert loop.time() < deadline, f"the agent never said {word!r}"
        await line.caller.silence(0.1)


async def stored_texts(line) -> tuple[str, str, object]:
    call = await stored(line.handle.call_id)
    segs = await sync_to_async(segments)(call.pk)
    caller = " ".join(t for s, t in segs if s == "caller").lower()
    agent = " ".join(t for s, t in segs if s == "agent").lower()
    return caller, agent, call


async def test_question_straddling_frequent_goaways_is_answered(demo_agent, dial, gemini):
    """Thrown: a goAway 1.5 s into every connection with 2 s left, so no connection lives 2.6 s,
    and a 2.5 s question (3 s with the silence after it) that cannot fit in one. Survived: the emulator heard the whole question on
    one connection (the engine resent what the old one had not consumed) and answered it."""
    gemini.faults.goaway_after_s = 1.5
    gemini.faults.goaway_time_left_s = 2.0
    try:
        before = len(gemini.sessions)
        line = await dial()
        await line.wait_for_audio(1.0)
        await line.wait_quiet()
        reconnects = line.handle.metrics.reconnects
        await line.caller.say(QUESTION, then_silence=0.5)
        during = line.handle.metrics.reconnects - reconnects
        await until_agent_says(line, gemini, before, ANSWER_WORD)
        await line.wait_quiet()
    finally:
        gemini.faults.goaway_after_s = None
        gemini.faults.goaway_time_left_s = 5.0
    await line.hang_up_and_wait()
    assert during >= 1, "no reconnect happened while the caller spoke"
    heard = [h for s in gemini.sessions[before:] for h in s.heard]
    assert QUESTION in heard, heard
    caller, agent, call = await stored_texts(line)
    assert "status of my order" in caller and ANSWER_WORD in agent
    assert call.status == "completed"


async def test_socket_dropped_mid_question_is_answered(demo_agent, dial, gemini):
    """Thrown: the TCP connection to Gemini aborted (no close frame) 1 s into the caller's question.
    Survived: the resumed session heard the whole question and the agent answered it."""
    before = len(gemini.sessions)
    line = await dial()
    await line.wait_for_audio(1.0)
    await line.wait_quiet()
    gemini.faults.drop_mid_speech_s = 1.0
    try:
        await line.caller.say(QUESTION, then_silence=0.5)
        await until_agent_says(line, gemini, before, ANSWER_WORD)
        await line.wait_quiet()
    finally:
        gemini.faults.drop_mid_speech_s = None
    await line.hang_up_and_wait()
    assert line.handle.metrics.reconnects >= 1
    assert any(s.resumed_from for s in gemini.sessions[before:]), "no session was resumed"
    heard = [h for s in gemini.sessions[before:] for h in s.heard]
    assert QUESTION in heard, heard
    caller, agent, _ = await stored_texts(line)
    assert "status of my order" in caller and ANSWER_WORD in agent


@pytest.fixture(scope="module")
def realtime_gemini():
    """An emulator that streams replies at real time (as the service does), so a reply is still
    arriving when a connection's time runs out."""
    emulator = start_in_thread(profile="fast", send_speed=1.0, hold_factor=1.0)
    yield emulator
    emulator.close()


async def test_reply_cut_by_a_forced_reconnect_is_picked_up(demo_agent, dial, settings, realtime_gemini):
    """Thrown: a goAway 0.5 s into every connection with 2 s left, while the 3.5 s greeting streams at
    real time, so the engine must leave mid-reply (1 s before the close). Survived: the resumed
    session is asked to continue and speaks the rest; the caller hears the greeting once, whole."""
    for key, value in gemini_env(realtime_gemini).items():
        setattr(settings, key, value)
    realtime_gemini.faults.goaway_after_s = 0.5
    realtime_gemini.faults.goaway_time_left_s = 2.0
    try:
        line = await dial()
        await until_agent_says(line, realtime_gemini, 0, "help")
        await line.wait_quiet()
    finally:
        realtime_gemini.faults.goaway_after_s = None
    await line.hang_up_and_wait()
    said = [t for s in realtime_gemini.sessions for t in s.said]
    assert said[0].startswith("Hello, thanks for calling"), said
    continued = [t for t in said[1:] if t.lower().endswith("how can i help?")]
    assert continued, said  # a later connection spoke the greeting's remainder
    _, agent, call = await stored_texts(line)
    assert agent.count("thanks for calling") == 1, agent
    assert "how can i help" in agent, agent
    assert call.status == "completed"
