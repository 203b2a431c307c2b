"""How a supervisor's action reaches a live call, whichever process holds it.

Every call in progress listens on the channel-layer group `call.<id>` (the engine subscribes when
the call starts, `engine/supervision.py`); the dashboard sends to that group. In production the
channel layer is Redis, so web, `runasterisk` and `runsip` processes all hear it; in embedded
mode it is in memory, so only calls held by the web process itself (Twilio, Plivo, browser) do.
"""

from __future__ import annotations

import uuid

from channels.layers import get_channel_layer

WHISPER = "call.whisper"
MAX_WHISPER_CHARS = 500


def group_for(call_id: uuid.UUID | str) -> str:
    return f"call.{call_id}"


async def whisper(call_id: uuid.UUID | str, text: str, by: str) -> bool:
    """Send guidance to the agent of a live call; False when this process has no channel layer."""
    layer = get_channel_layer()
    if layer is None:
        return False
    await layer.group_send(group_for(call_id), {"type": WHISPER, "text": text[:MAX_WHISPER_CHARS], "by": by})
    return True
