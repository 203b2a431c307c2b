"""A live call listens for its supervisors (see `calls/supervision.py` for the route in)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from channels.layers import get_channel_layer

from calls.supervision import WHISPER, group_for

if TYPE_CHECKING:
    from .call import CallHandle

log = logging.getLogger(__name__)


async def listen(handle: CallHandle) -> None:
    """Until cancelled (the call ended): apply what supervisors send to this call's group."""
    layer = get_channel_layer()
    if layer is None or handle.call_id is None:
        return
    channel = await layer.new_channel()
    group = group_for(handle.call_id)
    await layer.group_add(group, channel)
    try:
        while True:
            message = await layer.receive(channel)
            if message.get("type") == WHISPER:
                await handle.whisper(str(message.get("text", "")), str(message.get("by", "")))
    finally:
        try:
            await layer.group_discard(group, channel)
        except Exception:  # noqa: BLE001 - the layer may be gone at shutdown; groups expire anyway
            log.debug("leaving %s failed", group, exc_info=True)
