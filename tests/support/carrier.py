"""What the Twilio and Plivo test fixtures share: daphne pointed at an emulator, and a test agent."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async

from tests.conftest import ARTIFACTS
from tests.support.hearing import heard_line
from tests.support.live import database_url, start_daphne


def start_carrier_daphne(running, live_server_env: dict, env: dict, server: str = "daphne"):
    """daphne (or `server` "streams") with the carrier's credentials in `env`; the emulator's webhooks
    retargeted at it."""
    from django.db import connection

    live = start_daphne(
        database_url(connection.settings_dict), ARTIFACTS / "logs", {**live_server_env, **env}, server
    )
    running.retarget(live.url)
    return live


def carrier_agent(name: str, carrier: str, number: str):
    """An agent (greeting, end_call tool) answering `number` on `carrier`."""
    from agents.models import Agent, PhoneNumber, Tool

    agent = Agent.objects.create(
        name=name,
        system_prompt="You are a support agent for Example Corp.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
    )
    agent.tools.add(Tool.objects.create(name="end_call", kind="end_call", description="End the call."))
    PhoneNumber.objects.create(carrier=carrier, number=number, agent=agent)
    return agent


async def stored(carrier_call_id: str, timeout: float = 20.0):
    """The Call once the engine handed its records to Celery and they were stored."""
    from calls.models import Call

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        call = await sync_to_async(
            lambda: (
                Call.objects.select_related("metrics")
                .filter(carrier_call_id=carrier_call_id, metrics__final=True)
                .first()
            )
        )()
        if call:
            return call
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {carrier_call_id} was never stored")


@sync_to_async
def segments(call) -> list[tuple[str, str]]:
    return list(call.segments.values_list("speaker", "text"))


@sync_to_async
def recording_seconds(call) -> float:
    return call.recording.duration_seconds


async def heard(emu, call, timeout: float = 25.0) -> str:
    """Wait for the agent's next reply to finish playing; return what pocketsphinx heard in it."""
    start, end = await emu.run(call.handset.next_reply(timeout=timeout))
    return await emu.run(call.handset.transcribe(start, end + 0.2))


async def heard_agent_line(emu, call, timeout: float = 20.0) -> str:
    """Wait for the agent's next reply to finish playing; return the agent line it is, checked on the
    words and on the signal (tests.support.hearing: distorted audio fails)."""
    start, end = await emu.run(call.handset.next_reply(timeout=timeout))
    pcm = bytes(call.handset.heard[int(start * 8000) * 2 : int((end + 0.2) * 8000) * 2])
    return await asyncio.to_thread(heard_line, pcm, 8000)


async def silent_caller_is_answered(emu, number: str) -> None:
    """A caller whose phone sends no media while silent (silence suppression, DTX): nothing during the
    greeting, the question as 20 ms frames, then not one frame, so only flite's ~160 ms tail follows the
    last word (the agent waits for 300 ms of silence). The caller must hear the answer, and the stored
    transcript must have the question and the reply."""
    call = await emu.place(to=number, silence_suppression=True)
    await emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    await heard(emu, call)  # the greeting, to a line that sent nothing
    assert call.media_sent == 0

    await emu.run(call.say("i would like to check the status of my order"))
    reply = await heard(emu, call, timeout=15)
    assert {"order", "shipped", "tomorrow", "check"} & set(reply.split()), reply
    assert 0 < call.media_sent < 200, call.media_sent  # the question's ~135 frames only
    await emu.run(call.hangup())

    assert call.errors == [], call.errors
    row = await stored(call.call_id)
    said = await segments(row)
    caller_said = " ".join(t for s, t in said if s == "caller").lower()
    assert "status of my order" in caller_said, said
    assert [s for s, _ in said].count("agent") >= 2, said  # the greeting and the answer


async def disclosure_is_not_cut(emu, to: str, agent, clear_event: str) -> None:
    """The agent's AI disclosure on this carrier's line: the caller says "hello" half a second into
    the opening; the opening plays on (no `clear_event` from the app), the stored transcript starts
    with the disclosure and records it as given. Shared by the Twilio and Plivo end-to-end tests."""
    from agents.models import DEFAULT_AI_DISCLOSURE

    agent.ai_disclosure = DEFAULT_AI_DISCLOSURE
    await sync_to_async(agent.save)()
    call = await emu.place(to=to)
    await emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    await emu.run(call.handset.next_speech_start())
    await asyncio.sleep(0.5)
    await emu.run(call.say("hello"))
    await heard(emu, call)  # the rest of the opening (or what follows it), to its end
    assert clear_event not in call.app_events, "the caller's words cut the disclosure off"
    await emu.run(call.hangup())
    said = await segments(await stored(call.call_id))
    agent_lines = [text for speaker, text in said if speaker == "agent"]
    assert agent_lines and agent_lines[0].startswith(DEFAULT_AI_DISCLOSURE.rstrip(".")), said
    assert ("system", f"AI disclosure given: {DEFAULT_AI_DISCLOSURE}") in said
