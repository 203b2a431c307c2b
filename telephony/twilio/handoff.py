"""Where a Twilio warm transfer waits for the person's answer, and how the webhook delivers it.

The port dials the person with TwiML whose `<Gather>` action and status callback carry a single-use
token in their path (`/twilio/transfer/<token>/…`, signed by Twilio like every webhook). The port
waits on `Waiter(token)`: an asyncio future in this process, and a subscription to the channel-layer
group of the token, because in production the webhook may reach another web process (the layer is
Redis there; in embedded mode it is in memory and only this process exists). The first decision for a
token wins (`cache.add`, shared through Redis in production); a replayed or late webhook is told the
call was already handled.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

log = logging.getLogger(__name__)

MESSAGE = "twilio.handoff"
DECISION_TTL_S = 3600  # how long a token's decision is remembered (replays within it are refused)

_waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}


def new_token() -> str:
    return secrets.token_hex(16)


def _key(token: str) -> str:
    return f"twilio-handoff:{token}"


def group_for(token: str) -> str:
    return f"twilio.handoff.{token}"


def urls(token: str) -> tuple[str, str]:
    """(the <Gather> action, the status callback) for this token, on the public address."""
    base = settings.PUBLIC_BASE_URL
    return (
        base + reverse("twilio-transfer-answer", args=[token]),
        base + reverse("twilio-transfer-status", args=[token]),
    )


def room_of(token: str) -> str | None:
    """The conference room of an offered transfer, or None for a token we never issued (or expired)."""
    entry = cache.get(_key(token))
    return entry["room"] if entry else None


def decide(token: str, status: str, detail: str = "") -> bool:
    """Record the person's decision (webhook side) and wake the waiting port; False if this token
    already had one (a replay, or the status callback after the Gather decided)."""
    if not cache.add(_key(token) + ":decided", status, DECISION_TTL_S):
        return False
    decision = {"status": status, "detail": detail}
    entry = _waiting.get(token)
    if entry is not None:
        loop, future = entry
        loop.call_soon_threadsafe(_settle, future, decision)
        return True
    layer = get_channel_layer()
    if layer is None:
        log.warning("twilio: transfer %s decided (%s) but no channel layer reaches its call", token, status)
        return True
    async_to_sync(layer.group_send)(group_for(token), {"type": MESSAGE, **decision})
    return True


def _settle(future: asyncio.Future, decision: dict[str, Any]) -> None:
    if not future.done():
        future.set_result(decision)


class Waiter:
    """The port's side: register the token, then wait for the decision (or time out)."""

    def __init__(self, token: str, room: str) -> None:
        self.token = token
        self.room = room
        self._future: asyncio.Future | None = None
        self._listener: asyncio.Task | None = None

    async def open(self, ttl: float) -> None:
        """Before the person is dialled: the token is known (to the webhook) and listened for."""
        await asyncio.to_thread(cache.set, _key(self.token), {"room": self.room}, int(ttl) + DECISION_TTL_S)
        loop = asyncio.get_running_loop()
        self._future = loop.create_future()
        _waiting[self.token] = (loop, self._future)
        layer = get_channel_layer()
        if layer is not None:
            channel = await layer.new_channel()
            await layer.group_add(group_for(self.token), channel)
            self._listener = asyncio.create_task(self._listen(layer, channel), name="twilio-handoff")

    async def _listen(self, layer, channel: str) -> None:
        try:
            while True:
                message = await layer.receive(channel)
                if message.get("type") == MESSAGE and self._future is not None:
                    _settle(self._future, {"status": message["status"], "detail": message.get("detail", "")})
                    return
        finally:
            try:
                await layer.group_discard(group_for(self.token), channel)
            except Exception:  # noqa: BLE001 - the layer may be gone at shutdown; groups expire anyway
                log.debug("leaving %s failed", group_for(self.token), exc_info=True)

    async def result(self, timeout: float) -> dict[str, Any] | None:
        """The decision, or None when none came within `timeout`."""
        assert self._future is not None, "open() first"
        try:
            return await asyncio.wait_for(asyncio.shield(self._future), timeout)
        except TimeoutError:
            return None

    async def close(self, decided: str = "") -> None:
        """Stop waiting; `decided` marks the token as handled (a late webhook then hangs up)."""
        _waiting.pop(self.token, None)
        if self._listener is not None:
            self._listener.cancel()
        if decided:
            await asyncio.to_thread(cache.add, _key(self.token) + ":decided", decided, DECISION_TTL_S)
