"""The cost of a call from Gemini's usageMetadata, through the engine (`start_call`), the real google-genai
SDK and the Gemini emulator (which reports cumulative snapshots per connection, per modality, as the
service does): the stored tokens are the last snapshot of each connection summed across reconnects, and
the cost is those tokens times the configured prices; an unknown price stores no cost and shows "—"."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from agents.models import Agent

from .test_engine import stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MODEL = "gemini-3.8-live"
PRICES = {
    MODEL: {
        "as_of": "2026-12-01",
        "source": "test price table",
        "currency": "USD",
        "input": {"AUDIO": "3.00", "TEXT": "0.50"},
        "output": {"AUDIO": "12.00", "TEXT": "2.00"},
    }
}


def _reported(sessions) -> dict[str, dict[str, int]]:
    """What the emulator reported for these connections: the last snapshot of each, summed."""
    out: dict[str, dict[str, int]] = {"input": {}, "output": {}}
    for session in sessions:
        if not session.usage:
            continue
        last = session.usage[-1]
        for side, key in (("input", "promptTokensDetails"), ("output", "responseTokensDetails")):
            for item in last[key]:
                out[side][item["modality"]] = out[side].get(item["modality"], 0) + item["tokenCount"]
    return out


def _price_of(tokens: dict[str, dict[str, int]]) -> Decimal:
    prices = PRICES[MODEL]
    total = sum(
        Decimal(prices[side][modality]) * count / Decimal(1_000_000)
        for side in ("input", "output")
        for modality, count in tokens[side].items()
    )
    return Decimal(total).quantize(Decimal("0.000001"))


@sync_to_async
def _pages(call_id) -> tuple[str, dict, list[dict]]:
    from django.contrib.auth import get_user_model

    from calls.api import tokens

    staff = get_user_model().objects.create_user("boss", "boss@example.com", "pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get(f"/calls/{call_id}/").content.decode()
    rows = list(csv.DictReader(io.StringIO(b"".join(client.get("/calls.csv").streaming_content).decode())))
    token = tokens.mint("cost test", created_by=staff)[1]
    api = json.loads(Client().get(f"/api/calls/{call_id}", HTTP_AUTHORIZATION=f"Bearer {token}").content)
    return page, api, rows


async def test_cost_is_reported_tokens_times_prices_across_a_reconnect(demo_agent, dial, gemini, settings):
    """Thrown: a 3.8 call of several turns whose first connection gets goAway mid-call (the engine resumes
    on a second connection). Survived: the stored tokens per modality equal the last usageMetadata snapshot
    of each connection, summed (not the sum of every snapshot); the cost equals those tokens times the
    configured prices; the call page, the CSV and the API show it."""
    settings.GEMINI_PRICES = PRICES
    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(model=MODEL)
    before = len(gemini.sessions)
    gemini.faults.goaway_after_s, gemini.faults.goaway_time_left_s = 8.0, 10.0
    try:
        line = await dial()
        await line.wait_quiet()
        await line.caller.say("hello")
        await line.wait_quiet()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while len(gemini.sessions) - before < 2:  # the engine has resumed on a new connection
            assert loop.time() < deadline, "no reconnect after goAway"
            await line.caller.silence(0.1)
        gemini.faults.goaway_after_s = None  # the second connection stays
        await line.caller.say("hello")
        await line.wait_quiet()
        await line.hang_up_and_wait()
    finally:
        gemini.faults.goaway_after_s = None
    # Two connections at least: on a loaded machine the second may connect before the fault is lifted
    # and get its own goAway (a third); the property holds for any number of them.
    sessions = gemini.sessions[before:]
    assert len(sessions) >= 2 and all(s.usage for s in sessions)
    assert max(len(s.usage) for s in sessions) >= 2, "no connection reported twice: last-vs-sum untested"
    tokens = _reported(sessions)
    call = await stored(line.handle.call_id)
    assert call.tokens_input_audio == tokens["input"]["AUDIO"] > 0
    assert call.tokens_input_text == tokens["input"]["TEXT"] > 0
    assert call.tokens_output_audio == tokens["output"]["AUDIO"] > 0
    assert call.tokens_output_text == tokens["output"]["TEXT"] > 0
    assert call.cost == _price_of(tokens) > 0
    assert "2026-12-01" in call.cost_basis and "test price table" in call.cost_basis
    page, api, rows = await _pages(call.pk)
    assert f"{call.cost:.4f}" in page
    (row,) = [r for r in rows if r["id"] == str(call.pk)]
    assert Decimal(row["cost"]) == call.cost and int(row["tokens_output_audio"]) == call.tokens_output_audio
    assert Decimal(api["cost"]) == call.cost and api["tokens"]["input"]["AUDIO"] == call.tokens_input_audio


async def test_an_unknown_price_stores_no_cost(demo_agent, dial, gemini, settings):
    """Thrown: a call on a model the price table does not list. Survived: the tokens are stored, the cost
    is empty (not zero, not a guess), the basis says why, and the call page shows "—"."""
    settings.GEMINI_PRICES = PRICES
    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(
        model="gemini-2.5-flash-native-audio-preview-12-2025"
    )
    line = await dial()
    await line.wait_quiet()
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)
    assert call.tokens_output_audio > 0
    assert call.cost is None and "no price for gemini-2.5" in call.cost_basis
    page, api, _ = await _pages(call.pk)
    assert api["cost"] is None
    assert '<dd id="cost"' in page and "—" in page.split('<dd id="cost"', 1)[1].split("</dd>", 1)[0]
