"""A supervisor listens in on a live Twilio call, takes it over and hands it back, in real Chromium.

The Twilio emulator places the call through the real daphne (signed webhook, Media Streams); the
supervisor's page is the call page in headless Chromium, whose fake microphone plays a flite phrase.
What the caller heard is checked on the emulator's handset (pocketsphinx and the likeness check),
what the supervisor heard in the page's audio worklet. Screenshots go to test-artifacts/supervise/.
"""

from __future__ import annotations

import asyncio
import shutil
import wave

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, Supervision
from emulators.gemini.likeness import heard_phrase
from telephony.loopback import flite_pcm
from tests.conftest import ARTIFACTS
from tests.support.carrier import heard, heard_agent_line, segments, stored
from tests.support.chromium import CHROMIUM, FAKE_MICROPHONE, FLAGS
from tests.support.hearing import AGENT_LINES

from .conftest import TWILIO_NUMBER

SHOTS = ARTIFACTS / "supervise"
SUPERVISOR_SAYS = "what are your opening hours"
pytestmark = [
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian's chromium"),
    pytest.mark.skipif(not shutil.which("flite"), reason="needs flite"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
]


@pytest.fixture(scope="module")
def supervisor_wav(tmp_path_factory):
    """What the supervisor's fake microphone plays, in a loop: 1 s of silence, the phrase, 3 s of silence."""
    rate = 16000
    speech = np.frombuffer(flite_pcm(SUPERVISOR_SAYS, rate), dtype="<i2")
    quiet = np.zeros(rate, "<i2")
    path = tmp_path_factory.mktemp("supervise") / "supervisor.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.concatenate([quiet, speech, quiet, quiet, quiet]).tobytes())
    return path


@pytest.fixture
async def chromium(twilio_server, supervisor_wav):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[*FLAGS, *FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={supervisor_wav}"],
        )
        context = await browser.new_context(
            base_url=twilio_server.url, permissions=["microphone"], viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        page.set_default_timeout(20_000)
        yield page
        await context.close()
        await browser.close()


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def sign_in(page, path: str, username: str) -> None:
    await page.goto(path)
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", "correct horse battery")
    await page.click("button[type=submit]")
    await page.wait_for_load_state()


async def live_call(carrier_call_id: str) -> Call:
    for _ in range(100):
        call = await sync_to_async(Call.objects.filter(carrier_call_id=carrier_call_id).first)()
        if call is not None:
            return call
        await asyncio.sleep(0.1)
    raise AssertionError("the call has no row")


async def test_listen_take_over_and_hand_back_from_the_call_page(
    twilio_server, twilio_emulator, twilio_agent, staff_user, chromium, gemini_emulator
):
    """Thrown at it: a live Twilio call; a supervisor clicks Listen, then Take over while the fake
    microphone speaks a phrase, then Hand back. Holds: the page's worklet plays loud audio of the call;
    after Take over the first thing the caller hears is the supervisor's phrase (not the agent), and
    Gemini heard it too; after Hand back the agent speaks to the caller again; the stored transcript
    marks the supervisor's turn as a human one and the call page lists the listen and the take-over."""
    emu, page = twilio_emulator, chromium
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    await heard(emu, call)  # the greeting
    row = await live_call(call.sid)

    await sign_in(page, f"/calls/{row.pk}/", "staff")
    await page.click("#listen")
    await page.wait_for_function("window.supervise.state === 'listening'")
    await emu.run(call.say("hello"))
    await heard(emu, call)  # the agent's answer, while the supervisor listens
    await page.wait_for_function("window.supervise.player && window.supervise.player.loud > 4000")
    stats = await page.evaluate("window.supervise")
    assert stats["chunksReceived"] > 20 and stats["loudestChunkRms"] > 300, stats
    assert stats["player"]["peak"] > 0.05 and stats["player"]["bufferedMs"] < 500, stats
    await shot(page, "01-listening")

    sessions_before = len(gemini_emulator.sessions)
    taken_at = call.handset.heard_seconds
    await page.click("#take-over")
    await page.wait_for_function("window.supervise.mine === true")
    assert await page.locator("#hand-back").is_visible()
    assert "You have the call" in await page.locator("#supervise-state").inner_text()
    await shot(page, "02-taken-over")
    start, end = await emu.run(call.handset.next_reply(timeout=20))
    assert start >= taken_at
    pcm = bytes(call.handset.heard[int(start * 8000) * 2 : int((end + 0.2) * 8000) * 2])
    said = await asyncio.to_thread(heard_phrase, pcm, [SUPERVISOR_SAYS, *AGENT_LINES], 8000)
    assert said == SUPERVISOR_SAYS, f"the caller heard {said!r}, not the supervisor"
    stats = await page.evaluate("window.supervise")
    assert stats["micChunksSent"] > 20 and stats["loudestMicRms"] > 300, stats
    sessions = gemini_emulator.sessions[max(0, sessions_before - 1) :]
    for _ in range(50):
        if any(SUPERVISOR_SAYS in h for s in sessions for h in s.heard):
            break
        await asyncio.sleep(0.1)
    assert any(SUPERVISOR_SAYS in h for s in sessions for h in s.heard), [s.heard for s in sessions]

    # Hand back between two of the supervisor's phrases, so what follows is the agent alone.
    await emu.run(call.wait_until(lambda: call.handset.quiet_for(1.0), what="a pause of the supervisor"))
    handed_at = call.handset.heard_seconds
    await page.click("#hand-back")
    agent_line = await heard_agent_line(emu, call, timeout=20)  # the agent has the call again
    assert agent_line in AGENT_LINES and call.handset.heard_seconds > handed_at
    await page.wait_for_function("window.supervise.mine === false && window.supervise.takenBy === ''")
    await shot(page, "03-handed-back")
    await emu.run(call.hangup())
    await page.wait_for_function("window.supervise.state === 'ended'", timeout=20_000)

    stored_call = await stored(call.sid)
    lines = await segments(stored_call)
    human = " ".join(text for speaker, text in lines if speaker == "human").lower()
    assert SUPERVISOR_SAYS in human, lines
    assert ("system", "staff took over the call") in lines
    assert ("system", "staff handed the call back to the agent") in lines
    rows = await sync_to_async(list)(Supervision.objects.filter(call=stored_call).order_by("started_at"))
    assert [(r.username, r.action) for r in rows] == [("staff", "listen"), ("staff", "take_over")]
    # The live page turns itself into the stored call (call_live.js reloads it once the call has
    # ended); navigating away here would race that reload.
    await page.wait_for_selector("#transcript-live", state="detached", timeout=20_000)
    log = await page.locator("#supervisions").inner_text()
    assert "staff: listened in at" in log and "staff: took over at" in log
    assert await page.locator(".turn-human").count() >= 1
    await shot(page, "04-stored-call")


async def test_a_whisper_typed_on_the_call_page_steers_the_agents_next_turn(
    twilio_server, twilio_emulator, twilio_agent, staff_user, chromium
):
    """Thrown at it: a live Twilio call; the supervisor types a note into the call page's whisper box
    and sends it (the form's CSRF token and the staff session, as a person does). Holds: the page says
    it was sent; the caller's next words get the answer the note asked for (heard on the caller's
    handset, words and signal), never the note itself; the stored transcript has it as a supervisor
    line."""
    emu, page = twilio_emulator, chromium
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    assert call.stream_started.is_set(), call.errors
    await heard(emu, call)  # the greeting
    row = await live_call(call.sid)

    await sign_in(page, f"/calls/{row.pk}/", "staff")
    await page.fill("#whisper-text", "Offer the caller the 10 % discount")
    await page.click("#whisper button[type=submit]")
    await page.wait_for_load_state()
    assert "Sent to the agent" in await page.inner_text("body")
    await shot(page, "05-whispered")

    await emu.run(call.say("i need some help"))
    line = await heard_agent_line(emu, call, timeout=20)
    assert line == "Good news: I can offer you a ten percent discount today.", line
    await emu.run(call.hangup())

    lines = await segments(await stored(call.sid))
    assert any(speaker == "supervisor" and "discount" in text for speaker, text in lines), lines
    assert not any(speaker == "agent" and "offer the caller" in text.lower() for speaker, text in lines)


async def test_a_non_staff_user_sees_no_buttons_and_the_socket_refuses_them(
    twilio_server, twilio_emulator, twilio_agent, chromium, django_user_model
):
    """Thrown at it: a signed-in user who is not staff opens a live call's page and, from the site's
    own origin, opens its supervise WebSocket. Holds: the page is refused (403, no Listen button)
    and the socket never opens."""
    await sync_to_async(django_user_model.objects.create_user)(
        "clerk", "c@example.com", "correct horse battery"
    )
    emu, page = twilio_emulator, chromium
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    row = await live_call(call.sid)
    await sign_in(page, "/accounts/login/", "clerk")
    response = await page.goto(f"/calls/{row.pk}/")
    assert response.status == 403
    assert await page.locator("#listen").count() == 0 and await page.locator("#take-over").count() == 0
    result = await page.evaluate(
        """(path) => new Promise((resolve) => {
            const ws = new WebSocket(`ws://${location.host}${path}`);
            ws.onopen = () => resolve("opened");
            ws.onclose = (event) => resolve(`closed ${event.code}`);
        })""",
        f"/ws/calls/{row.pk}/supervise/",
    )
    assert result.startswith("closed") and result != "closed 1000", result
    await emu.run(call.hangup())
    await stored(call.sid)
