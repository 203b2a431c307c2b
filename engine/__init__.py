"""The transport-agnostic conversation engine: one call, any carrier, on the google-genai SDK.

A transport builds a `MediaPort` (its wire encoding and commands) and calls `start_call`; it then
pushes caller audio, DTMF and playback confirmations into the returned `CallHandle`. The engine
does everything else: routing, the Call row, Gemini Live, pacing, barge-in, tools, transcripts,
recording, metrics, limits, reconnects, and handing the records to Celery at the end.

Modules, one concern each: `port` (the contract with transports), `call` (one call's lifecycle),
`live` (the Gemini Live session with reconnects), `playout` (the one pacer), `uplink` (caller audio
to Gemini), `tools` (tool dispatch), `transfer` (warm transfer: hold audio, brief, outcome), `record` (transcript and recording), `metrics`, `setup`
(agent → Live config, configuration webhook), `store` (database work, off the event loop).
"""

from .call import CallHandle, start_call
from .port import CallRequest, MediaPort, TransferOffer, TransferOutcome, WireFormat

# Imported eagerly (google-genai and pydantic take ~0.7 s to load): a process that serves calls pays
# it at start-up, not in the middle of its first call while other calls' frames wait.
__all__ = [
    "CallHandle",
    "CallRequest",
    "MediaPort",
    "TransferOffer",
    "TransferOutcome",
    "WireFormat",
    "start_call",
]
