"""Twilio Media Streams JSON <-> engine values. Pure translation: no I/O, no timing.

Inbound (Twilio -> app): `connected`, `start`, `media`, `dtmf`, `mark`, `stop`, all JSON text frames.
Outbound (app -> Twilio): `media` (base64 u-law 8 kHz), `mark`, `clear`, each with the `streamSid`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from telephony import frame_json


class FrameError(ValueError):
    """A frame we cannot use (not JSON, wrong shape, bad base64); the call goes on without it."""


@dataclass
class TwilioEvent:
    kind: str  # connected | start | media | dtmf | mark | stop | other
    stream_sid: str = ""
    call_sid: str = ""
    payload: bytes = b""
    digit: str = ""
    name: str = ""
    parameters: dict[str, str] = field(default_factory=dict)


class TwilioSerializer:
    """One per stream: remembers the `streamSid` that every outbound message must carry."""

    def __init__(self) -> None:
        self.stream_sid = ""
        self.call_sid = ""

    @property
    def stream_sid(self) -> str:
        return self._stream_sid

    @stream_sid.setter
    def stream_sid(self, value: str) -> None:
        # Every outbound media message is this text, the frame's base64 and `"}}`: no JSON encoding per
        # frame (json.dumps of the message cost ~30 times the concatenation).
        self._stream_sid = value
        self._media_prefix = '{"event":"media","streamSid":' + json.dumps(value) + ',"media":{"payload":"'

    def parse(self, text: str) -> TwilioEvent:
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
                self.stream_sid = str(msg.get("streamSid") or start.get("streamSid") or "")
                self.call_sid = str(start.get("callSid", ""))
                params = start.get("customParameters") or {}
                if not isinstance(params, dict):
                    raise FrameError("customParameters is not an object")
                return TwilioEvent(
                    "start",
                    self.stream_sid,
                    self.call_sid,
                    parameters={str(k): str(v) for k, v in params.items()},
                )
            if kind == "media":
                media = msg["media"]
                if media.get("track", "inbound") not in ("inbound", "inbound_track"):
                    return TwilioEvent("other")
                return TwilioEvent("media", payload=binascii.a2b_base64(media["payload"], strict_mode=True))
            if kind == "dtmf":
                return TwilioEvent("dtmf", digit=str(msg["dtmf"]["digit"]))
            if kind == "mark":
                return TwilioEvent("mark", name=str(msg["mark"]["name"]))
            if kind in ("stop", "connected"):
                return TwilioEvent(kind, stream_sid=str(msg.get("streamSid", "")))
        except (KeyError, TypeError, AttributeError) as exc:
            raise FrameError(f"{kind} frame without {exc}") from None
        except binascii.Error as exc:
            raise FrameError(f"media payload is not base64: {exc}") from None
        return TwilioEvent("other")

    # --- app -> Twilio ---------------------------------------------------------------------------
    def media(self, payload: bytes) -> str:
        return self._media_prefix + base64.b64encode(payload).decode("ascii") + '"}}'

    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def clear(self) -> str:
        return json.dumps({"event": "clear", "streamSid": self.stream_sid})
