"""The ARI client against the emulator over real HTTP and WebSocket: errors, ordering, reconnects."""

from __future__ import annotations

import asyncio
import logging

import pytest

from telephony.asterisk.ari import (
    AriClient,
    AriNotFound,
    AriUnauthorized,
    AriUnprocessable,
    redact_url,
    split_ari_url,
)

from .conftest import ARI_PASSWORD, ARI_USER


async def _wait(predicate, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_credentials_never_in_urls():
    base, user, password = split_ari_url("http://bob:hunter2@pbx.example:8088/ari/?api_key=bob:hunter2")
    assert (base, user, password) == ("http://pbx.example:8088/ari", "bob", "hunter2")
    assert "hunter2" not in redact_url("ws://bob:hunter2@pbx:8088/ari/events?app=x&api_key=bob:hunter2")


async def test_rest_calls_and_typed_errors(asterisk):
    client = AriClient(asterisk.ari_url, ARI_USER, ARI_PASSWORD, "cc-client-rest")
    try:
        info = await client.info()
        assert info["system"]["version"] == "22.10.1"
        with pytest.raises(AriNotFound) as missing:
            await client.hangup("1234.99")
        assert missing.value.status == 404 and missing.value.message == "Channel not found"
        bridge = await client.create_bridge("cc-br-test-rest")
        assert bridge["bridge_type"] == "mixing" and bridge["channels"] == []
        await client.destroy_bridge("cc-br-test-rest")
    finally:
        await client.close()
    wrong = AriClient(asterisk.ari_url, ARI_USER, "wrong", "cc-client-rest")
    try:
        with pytest.raises(AriUnauthorized) as denied:
            await wrong.channels()
        assert denied.value.status == 401 and denied.value.message == "Authentication required"
    finally:
        await wrong.close()


async def test_422_when_bridging_a_leg_before_its_stasis_start(asterisk):
    """A WebSocket leg enters Stasis only when its media socket connects: addChannel before is 422."""
    client = AriClient(asterisk.ari_url, ARI_USER, ARI_PASSWORD, "cc-client-422")
    try:
        await client.create_bridge("cc-br-test-422")
        leg = await client.external_media(
            channelId="cc-leg-test-422",
            transport="websocket",
            encapsulation="none",
            connection_type="server",
            format="ulaw",
        )
        assert leg["state"] == "Down" and leg["channelvars"]["MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE"] == "160"
        with pytest.raises(AriUnprocessable) as err:
            await client.add_channel("cc-br-test-422", "cc-leg-test-422")
        assert err.value.status == 422 and err.value.message == "Channel not in Stasis application"
        await client.hangup("cc-leg-test-422")
        await client.destroy_bridge("cc-br-test-422")
    finally:
        await client.close()


async def test_events_of_one_channel_stay_in_order_while_others_proceed(asterisk):
    """A slow handler on channel A must not reorder A's events, nor hold up channel B's."""
    client = AriClient(asterisk.ari_url, ARI_USER, ARI_PASSWORD, "cc-client-order")
    handled: list[tuple[str, str]] = []
    release_a = asyncio.Event()

    async def handler(event):
        channel = (event.get("channel") or {}).get("caller", {}).get("number")
        if not channel:
            return
        if channel == "A" and event["type"] == "StasisStart":
            await release_a.wait()  # A's first event is slow
        handled.append((channel, event["type"]))
        if channel == "B" and event["type"] == "ChannelDestroyed":
            release_a.set()  # B finished all its events while A was stuck

    task = asyncio.create_task(client.run_events(handler))
    try:
        await asyncio.wait_for(client.connected.wait(), 5)
        a = await asyncio.to_thread(asterisk.place_call, "default", "100", "A", "cc-client-order")
        b = await asyncio.to_thread(asterisk.place_call, "default", "101", "B", "cc-client-order")
        await asyncio.to_thread(asterisk.send_dtmf, a, "1")
        await asyncio.to_thread(asterisk.send_dtmf, a, "2")
        await asyncio.to_thread(asterisk.hangup, b)
        await asyncio.to_thread(asterisk.hangup, a)
        await _wait(lambda: ("A", "ChannelDestroyed") in handled, "A's events")
        a_events = [t for c, t in handled if c == "A"]
        assert a_events == [
            "StasisStart",
            "ChannelDtmfReceived",
            "ChannelDtmfReceived",
            "ChannelHangupRequest",
            "StasisEnd",
            "ChannelDestroyed",
        ]
        assert handled.index(("B", "ChannelDestroyed")) < handled.index(("A", "StasisStart"))
    finally:
        await client.close()
        task.cancel()


async def test_reconnects_after_asterisk_goes_away_and_never_logs_the_password(asterisk, caplog):
    """ARI drops the events socket and answers 503 for a while; the client comes back and resubscribes.
    The URL carries user:password on purpose: no log line may show it."""
    caplog.set_level(logging.DEBUG)
    url = asterisk.ari_url.replace("http://", f"http://{ARI_USER}:{ARI_PASSWORD}@")
    client = AriClient(url, app="cc-client-reconnect", backoff=(0.05, 0.4))
    connects = []

    async def on_connect():
        connects.append(await client.info())

    task = asyncio.create_task(client.run_events(lambda e: asyncio.sleep(0), on_connect))
    try:
        await _wait(lambda: len(connects) == 1, "first connection")
        await asyncio.to_thread(asterisk.restart_ari, 0.5)
        await _wait(lambda: len(connects) == 2, "reconnection")
        assert asterisk.call(asterisk.emulator.app_registered, "cc-client-reconnect")
        chan = await asyncio.to_thread(asterisk.place_call, "default", "100", "+1555", "cc-client-reconnect")
        assert not chan.phone.stasis_failed  # the app is registered again: Stasis() works
        await asyncio.to_thread(asterisk.hangup, chan)
    finally:
        await client.close()
        task.cancel()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "reconnecting" in text
    assert ARI_PASSWORD not in text and "api_key" not in text
