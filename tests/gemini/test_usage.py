"""usageMetadata with the real google-genai SDK against the emulator: cumulative snapshots per connection,
per modality, restarting on a new connection."""

from __future__ import annotations

import pytest

from .conftest import AUDIO_CONFIG, collect_turn


def _details(items) -> dict[str, int]:
    return {item.modality.value: item.token_count for item in items or ()}


async def _two_turns(client, model: str):
    async with client.aio.live.connect(model=model, config=AUDIO_CONFIG) as session:
        usages = []
        for text in ("hello", "hello"):
            await session.send_realtime_input(text=text)
            usages.append((await collect_turn(session)).usage)
    return usages


@pytest.mark.asyncio
@pytest.mark.parametrize("model", ["gemini-3.8-live", "gemini-2.5-flash-native-audio-preview-12-2025"])
async def test_usage_is_a_cumulative_snapshot_per_connection(emulator, model):
    """Thrown: two turns on one connection, then a fresh connection. Survived: the second snapshot holds
    the first plus that turn (running totals); every count equals the sum of its modality details; a new
    connection starts from zero again, so it reports what the first snapshot did."""
    client = emulator.client()
    first, second = await _two_turns(client, model)
    for usage in (first, second):
        assert usage.prompt_token_count == sum(_details(usage.prompt_tokens_details).values())
        assert usage.response_token_count == sum(_details(usage.response_tokens_details).values())
        assert usage.total_token_count == usage.prompt_token_count + usage.response_token_count
        assert set(_details(usage.prompt_tokens_details)) == {"TEXT", "AUDIO"}
    assert second.response_token_count >= 2 * first.response_token_count > 0  # the same reply twice
    assert second.prompt_token_count > first.prompt_token_count
    again, _ = await _two_turns(client, model)
    assert again.response_token_count == first.response_token_count
