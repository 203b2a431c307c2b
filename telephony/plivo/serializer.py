"""Plivo Audio Streams JSON <-> engine values. Pure translation: no I/O, no timing.

Inbound (Plivo -> app): `start` (once, with `extra_headers`), `media`, `dtmf`, `playedStream`,
`clearedAudio`; no `stop` is documented (socket close ends the stream) but one is tolerated.
Outbound (app -> Plivo): `playAudio` (contentType without `;rate=`, numeric sampleRate),
`checkpoint`, `clearAudio`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from telephony import frame_json

CONTENT_TYPE = "audio/x-mulaw"
SAMPLE_RATE = 8000


class FrameError(ValueError):
    """A frame we cannot use (not JSON, wrong shape, bad base64); the call goes on without it."""


@dataclass
class PlivoEvent:
    kind: str  # start | media | dtmf | playedStream | clearedAudio | stop | other
    stream_id: str = ""
    call_id: str = ""
    payload: bytes = b""
    digit: str = ""
    name: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def parse_extra_headers(raw: object) -> dict[str, str]:
    """`extra_headers` arrives as "k=v;k2=v2", "k=v,k2=v2" or a JSON object: accept all three."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if not isinstance(raw, str) or not raw:
        return {}
    text = raw.strip()
    if text.startswith("{"):
        try:
            return parse_extra_headers(json.loads(text))
        except ValueError:
            return {}
    headers: dict[str, str] = {}
    for part in text.replace(",", ";").split(";"):
        key, sep, value = part.partition("=")
        if sep:
            headers[key.strip()] = value.strip()
    return headers


_PLAY_AUDIO_PREFIX = (
    '{"event":"playAudio","media":{"contentType":'
    + json.dumps(CONTENT_TYPE)
    + ',"sampleRate":'
    + json.dumps(SAMPLE_RATE)
    + ',"payload":"'
)


class PlivoSerializer:
    """One per stream: remembers the `streamId` for checkpoints and clears."""

    def __init__(self) -> None:
        self.stream_id = ""
        self.call_id = ""

    def parse(self, text: str) -> PlivoEvent:
        try:
            msg = frame_json.loads(text)
        except (TypeError, ValueError) as exc:
            raise FrameError(f"not JSON: {exc}") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("event"), str):
            raise FrameError("no event field")
        kind = msg["event"]
        try:
            if kind == "start":
                start = msg["start"]
                self.stream_id = str(start.get("streamId") or msg.get("streamId") or "")
                self.call_id = str(start.get("callId", ""))
                headers = parse_extra_headers(msg.get("extra_headers", start.get("extra_headers")))
                return PlivoEvent("start", self.stream_id, self.call_id, headers=headers)
            if kind == "media":
                media = msg["media"]
                if media.get("track", "inbound") != "inbound":
                    return PlivoEvent("other")
                return PlivoEvent("media", payload=binascii.a2b_base64(media["payload"], strict_mode=True))
            if kind == "dtmf":
                dtmf = msg["dtmf"]
                return PlivoEvent("dtmf", digit=str(dtmf["digit"] if isinstance(dtmf, dict) else dtmf))
            if kind in ("playedStream", "played"):
                return PlivoEvent("playedStream", name=str(msg["name"]))
            if kind in ("clearedAudio", "stop"):
                return PlivoEvent(kind)
        except (KeyError, TypeError, AttributeError) as exc:
            raise FrameError(f"{kind} frame without {exc}") from None
        except binascii.Error as exc:
            raise FrameError(f"media payload is not base64: {exc}") from None
        return PlivoEvent("other")

    # --- app -> Plivo ----------------------------------------------------------------------------
    def play_audio(self, payload: bytes) -> str:
        # A fixed text around the frame's base64: no JSON encoding per frame.
        return _PLAY_AUDIO_PREFIX + base64.b64encode(payload).decode("ascii") + '"}}'

    def checkpoint(self, name: str) -> str:
        return json.dumps({"event": "checkpoint", "streamId": self.stream_id, "name": name})

    def clear_audio(self) -> str:
        return json.dumps({"event": "clearAudio", "streamId": self.stream_id})
