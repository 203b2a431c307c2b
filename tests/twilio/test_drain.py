"""SIGTERM to a web process in the middle of a Twilio call (a deploy): the caller is not cut off.

Thrown: SIGTERM (then, in the second test, a drain deadline of 1 s) to a real `python -m
contactcenter.serve` (daphne) or `python -m contactcenter.streams` (uvicorn, the media process of
production) process holding a live Media Streams call; uvicorn's own handling would close it with 1012.
Survives: the call itself (it goes on until the caller hangs up, or the agent says a closing line),
its stored record and transcript; the process reports not ready at once, refuses new calls with the
busy prompt, and exits 0 once the calls are stored.
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
from asgiref.sync import sync_to_async

from calls.models import Call
from engine.call import DRAINING_REFUSAL
from engine.drain import DRAIN_REASON
from tests.support.carrier import start_carrier_daphne

from .conftest import TWILIO_NUMBER

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def own_twilio(live_server_env):
    """A Twilio emulator and a daphne of this test's own (the test stops that daphne)."""
    from emulators.twilio.testing import start_in_thread

    emulator = start_in_thread(auth_token="test-twilio-auth-token")
    servers = []

    def start(server: str = "daphne", **env):
        live = start_carrier_daphne(
            emulator,
            live_server_env,
            {
                "TWILIO_ACCOUNT_SID": emulator.emulator.account_sid,
                "TWILIO_AUTH_TOKEN": emulator.emulator.auth_token,
                "TWILIO_API_BASE_URL": emulator.rest_url,
                **env,
            },
            server,
        )
        servers.append(live)
        return live

    yield emulator, start
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
    emulator.close()


async def exit_code(process, timeout: float) -> int | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while process.poll() is None and loop.time() < deadline:  # noqa: ASYNC110 - a child process
        await asyncio.sleep(0.1)
    return process.poll()


async def call_row(call_sid: str) -> Call:
    return await sync_to_async(lambda: Call.objects.get(carrier_call_id=call_sid))()


@sync_to_async
def segments(call: Call) -> list[tuple[str, str]]:
    return list(call.segments.values_list("speaker", "text"))


@pytest.mark.production
@pytest.mark.parametrize("kind", ["daphne", "streams"])
async def test_sigterm_lets_the_live_call_finish_refuses_new_ones_and_exits(own_twilio, twilio_agent, kind):
    emu, start = own_twilio
    server = start(kind, DRAIN_SECONDS="60")
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    await emu.run(call.handset.next_reply(timeout=20))  # the greeting

    server.process.send_signal(signal.SIGTERM)
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        for _ in range(50):
            if (await http.get("/ready")).status_code == 503:
                break
            await asyncio.sleep(0.1)
        assert (await http.get("/ready")).status_code == 503
        assert (await http.get("/health")).status_code == 200  # alive, just not taking calls

    # The live call goes on: the caller asks and is answered after the SIGTERM.
    await emu.run(call.say("hello"))
    await emu.run(call.handset.next_reply(timeout=20))
    assert server.process.poll() is None

    # A new call is refused with the busy prompt and recorded as refused by the drain.
    late = await emu.place(to=TWILIO_NUMBER)
    await emu.run(late.answered())
    await emu.run(late.wait_until(lambda: late.ended.is_set(), timeout=20, what="refused call ended"))
    late_row = await call_row(late.call_id)
    assert (late_row.status, late_row.end_reason) == (Call.Status.FAILED, DRAINING_REFUSAL)

    # The caller hangs up: the call is stored and the process exits on its own.
    await emu.run(call.hangup())
    assert await exit_code(server.process, 30) == 0, server.log()[-3000:]
    row = await call_row(call.call_id)
    assert row.status == Call.Status.COMPLETED and row.end_reason == "caller hung up"
    said = await segments(row)
    assert ("caller", "hello") in [(s, t.lower().strip(" .")) for s, t in said], said
    assert "1006" not in str(call.close_code)


@pytest.mark.parametrize("kind", ["daphne", "streams"])
async def test_drain_deadline_ends_the_call_with_a_closing_line_and_stores_it(own_twilio, twilio_agent, kind):
    emu, start = own_twilio
    server = start(kind, DRAIN_SECONDS="1")
    call = await emu.place(to=TWILIO_NUMBER)
    await emu.run(call.answered())
    await emu.run(call.handset.next_reply(timeout=20))  # the greeting

    server.process.send_signal(signal.SIGTERM)
    # After 1 s the agent says its closing line; the app ends the call; the process exits.
    await emu.run(call.wait_until(lambda: call.ended.is_set(), timeout=30, what="call ended by the app"))
    assert await exit_code(server.process, 30) == 0, server.log()[-3000:]
    row = await call_row(call.call_id)
    assert (row.status, row.end_reason) == (Call.Status.COMPLETED, DRAIN_REASON)
    agent_lines = " ".join(t for s, t in await segments(row) if s == "agent").lower()
    assert "system update" in agent_lines and "call us back" in agent_lines, agent_lines
