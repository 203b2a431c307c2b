"""How a supervisor's action reaches a live call, whichever process holds it.

Every call in progress listens on the channel-layer group `call.<id>` (the engine subscribes when
the call starts, `engine/supervision.py`); the dashboard sends to that group. In production the
channel layer is Redis, so web, `runasterisk` and `runsip` processes all hear it; in embedded
mode it is in memory, so only calls held by the web process itself (Twilio, Plivo, browser) do.

Listening and taking over use the same route in, from the supervise WebSocket
(`calls/dashboard/supervise.py`): it asks the call to stream to it (LISTEN, repeated every
LISTEN_REFRESH_SECONDS while it listens, so a listener whose process died is forgotten), and the call
sends the mixed audio to the group `call.<id>.listen` only while someone listens. A take-over carries
the supervisor's microphone the same way (SUPERVISOR_AUDIO); the call answers on the supervisor's
own channel (STATE, REFUSED).
"""

from __future__ import annotations

import uuid

from channels.layers import get_channel_layer

WHISPER = "call.whisper"
MAX_WHISPER_CHARS = 500

# Dashboard -> call (group `call.<id>`); each carries the supervisor's reply `channel` and `by`.
LISTEN = "call.listen"
UNLISTEN = "call.unlisten"
TAKE_OVER = "call.take_over"
HAND_BACK = "call.hand_back"
SUPERVISOR_AUDIO = "call.supervisor_audio"  # "pcm": 16 kHz mono PCM16 from the supervisor's microphone
# Call -> dashboard (the listeners group, or one supervisor's channel).
AUDIO = "supervision.audio"  # "pcm": caller and agent mixed, 16 kHz mono PCM16, LISTEN_CHUNK_MS long
STATE = "supervision.state"  # "taken_by": who has the call ("" when the agent has it)
REFUSED = "supervision.refused"  # "reason": why a take-over was refused
ENDED = "supervision.ended"  # the call ended

LISTEN_RATE = 16000
LISTEN_CHUNK_MS = 100
LISTEN_REFRESH_SECONDS = 5.0
LISTENER_EXPIRY_SECONDS = 3 * LISTEN_REFRESH_SECONDS


def group_for(call_id: uuid.UUID | str) -> str:
    return f"call.{call_id}"


def listeners_group_for(call_id: uuid.UUID | str) -> str:
    return f"call.{call_id}.listen"


async def whisper(call_id: uuid.UUID | str, text: str, by: str) -> bool:
    """Send guidance to the agent of a live call; False when this process has no channel layer."""
    layer = get_channel_layer()
    if layer is None:
        return False
    await layer.group_send(group_for(call_id), {"type": WHISPER, "text": text[:MAX_WHISPER_CHARS], "by": by})
    return True
