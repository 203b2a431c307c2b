"""An Asterisk emulator: ARI REST + events WebSocket + chan_websocket media on one HTTP port.

Faithful to `shared/reference/asterisk.md` where the app can tell: Basic or api_key auth with the
exact 401, `{"message"}` error bodies and Asterisk's status codes and texts, event envelopes and
timestamps, Uniqueid channel ids, externalMedia answering 200 *before* the leg's StasisStart
(422 on addChannel until then), no event queueing while the app is away (Stasis() then fails), a
mixing bridge on a real 20 ms clock, and real media legs (legs.py). A "phone" places calls into a
context/extension, speaks PCM in real time, records what it hears, sends DTMF and hangs up.
A version switch (`version="22.10.1"`) toggles what differs by release.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import time
import uuid
import wave
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from emulators.carrier import dialled_person
from emulators.wire.resample import Resampler

from . import facts
from .legs import FRAME, SILENCE, AudioSocketLeg, Leg, RtpLeg, WebSocketLeg

log = logging.getLogger(__name__)

CAUSES = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 18,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}
CAUSE_TEXT = {
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "No answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    28: "Invalid number format (incomplete number)",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}


def timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


class AriHttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------------------------------
@dataclass
class Phone:
    """The caller's handset: what it says (a queue of 20 ms frames) and what it hears."""

    mic: deque = field(default_factory=deque)
    heard: bytearray = field(default_factory=bytearray)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    end_cause: int | None = None
    stasis_failed: bool = False
    legs: list = field(default_factory=list)  # media legs ever bridged with this phone (their stats)
    # Sends nothing while silent (DTX / silence suppression; Asterisk's bridge then has no frame to
    # relay, so the media leg gets nothing either: reference asterisk.md §3a "no silence fill").
    silence_suppression: bool = False

    def say(self, pcm16k: bytes) -> None:
        pcm16k += bytes(-len(pcm16k) % FRAME)
        for i in range(0, len(pcm16k), FRAME):
            self.mic.append(pcm16k[i : i + FRAME])

    @property
    def speaking(self) -> bool:
        return bool(self.mic)


@dataclass
class Channel:
    id: str
    name: str
    state: str = "Ring"
    caller: dict = field(default_factory=lambda: {"name": "", "number": ""})
    dialplan: dict = field(default_factory=dict)
    creationtime: str = field(default_factory=timestamp)
    app: str | None = None  # in Stasis of this app
    bridge: Bridge | None = None
    phone: Phone | None = None
    leg: Leg | None = None
    channelvars: dict = field(default_factory=dict)
    variables: dict = field(default_factory=dict)
    playback: Playback | None = None
    hungup: bool = False
    # A warm transfer's person (originated to e.g. PJSIP/201): what they do, what media they were played.
    person: str | None = None
    media_heard: list = field(default_factory=list)  # media URIs played to this channel, in order
    keys_pressed: list = field(default_factory=list)

    def json(self, with_vars: bool = False) -> dict:
        data = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": "",
            "caller": dict(self.caller),
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": dict(self.dialplan),
            "creationtime": self.creationtime,
            "language": "en",
        }
        if with_vars and self.channelvars:
            data["channelvars"] = dict(self.channelvars)
        return data


@dataclass
class Bridge:
    id: str
    name: str
    app: str
    channels: list[Channel] = field(default_factory=list)
    creationtime: str = field(default_factory=timestamp)

    def json(self) -> dict:
        return {
            "id": self.id,
            "technology": "simple_bridge" if len(self.channels) <= 2 else "softmix",
            "bridge_type": "mixing",
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": [c.id for c in self.channels],
            "creationtime": self.creationtime,
            "video_mode": "none",
        }


@dataclass
class Playback:
    id: str
    media_uri: str
    channel: Channel
    frames: deque
    state: str = "queued"

    def json(self) -> dict:
        return {
            "id": self.id,
            "media_uri": self.media_uri,
            "target_uri": f"channel:{self.channel.id}",
            "language": "en",
            "state": self.state,
        }


# --------------------------------------------------------------------------------------------------
class AsteriskEmulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        users: dict[str, str] | None = None,
        version: str = "22.10.1",
        sounds_dir: str | Path | None = None,
        ws_control_format: str = "plain-text",
        media_host: str = "127.0.0.1",
        silence_suppression: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.users = users if users is not None else {"asterisk": "secret"}
        self.version = version
        self.sounds_dir = Path(sounds_dir) if sounds_dir else None
        self.ws_control_format = ws_control_format
        self.media_host = media_host
        self.silence_suppression = silence_suppression  # the default for phones placing calls
        self.asterisk_id = ":".join(f"{random.randrange(256):02x}" for _ in range(6))
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}
        self.apps: dict[str, list[web.WebSocketResponse]] = {}
        self.ws_legs: dict[str, WebSocketLeg] = {}
        self.faults: list[tuple[str, re.Pattern, int, str, list[int], str]] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every ARI request
        self.events_sent: list[dict] = []
        self.ari_down_until = 0.0
        self.event_connections = 0
        self.finished_calls: list[Channel] = []
        # Originate: what the dialled number does, one entry per attempt ("answer" when used up):
        # "answer", "busy" (cause 17), "no-answer" (cause 19), "unreachable" (cause 3 equivalents: 34).
        self.outcomes: dict[str, list[str]] = {}
        self.originated: list[dict] = []  # the params of every originate, in order
        self.ring_seconds = 0.2
        self.media_fetches: list[tuple[str, int]] = []  # (URL, HTTP status) of every sound:http(s) fetch
        self.http = None  # httpx.AsyncClient for sound:http(s) URIs, made on first use
        self._seq = 0
        self._startup = timestamp()
        self._runner: web.AppRunner | None = None
        self._tick: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.max_tick_lag_ms = 0.0

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_route("*", "/ari/events", self._events)
        app.router.add_route("*", "/media/{conn}", self._media)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        app.router.add_route("*", "/ari", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._tick = asyncio.create_task(self._clock())

    async def stop(self) -> None:
        for channel in list(self.channels.values()):
            if channel.leg:
                await channel.leg.close()
        if self._tick:
            self._tick.cancel()
        for sockets in self.apps.values():
            for ws in list(sockets):
                await ws.close()
        if self._runner:
            await self._runner.cleanup()
        if self.http is not None:
            await self.http.aclose()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def loop_task(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- ids, events ----------------------------------------------------------------------------
    def _uniqueid(self) -> str:
        self._seq += 1
        return f"{int(time.time())}.{self._seq}"

    def emit(self, app: str | None, kind: str, **body: Any) -> None:
        if not app:
            return
        event = {
            "type": kind,
            "timestamp": timestamp(),
            **body,
            "asterisk_id": self.asterisk_id,
            "application": app,
        }
        self.events_sent.append(event)
        text = json.dumps(event)
        for ws in list(self.apps.get(app, [])):
            if not ws.closed:
                self.loop_task(ws.send_str(text))

    def app_registered(self, app: str) -> bool:
        return any(not ws.closed for ws in self.apps.get(app, []))

    # --- faults and restarts (test hooks) -------------------------------------------------------
    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        message: str,
        times: int = 1,
        param_contains: str = "",
    ) -> None:
        """Answer the next `times` matching requests (a param value containing `param_contains`, if
        given) with `status` / `{"message": message}`."""
        self.faults.append((method.upper(), re.compile(path_regex), status, message, [times], param_contains))

    async def restart_ari(self, down_for: float = 1.0, drop_calls: bool = False) -> None:
        """ARI goes away (events sockets drop, HTTP answers 503) and comes back after `down_for`.

        drop_calls=True is a full restart: every channel vanishes without events, legs close.
        """
        self.ari_down_until = time.monotonic() + down_for
        for sockets in self.apps.values():
            for ws in list(sockets):
                await ws.close(code=1001)
        if drop_calls:
            for channel in list(self.channels.values()):
                channel.hungup = True
                if channel.leg:
                    await channel.leg.close()
                if channel.phone:
                    channel.phone.end_cause = 16
                    channel.phone.ended.set()
                self.channels.pop(channel.id, None)
            self.bridges.clear()

    # --- the phone --------------------------------------------------------------------------------
    def place_call(
        self,
        context: str,
        exten: str,
        caller_number: str = "+15551230000",
        app: str = "",
        silence_suppression: bool | None = None,
    ) -> Channel:
        """A caller dials exten@context, whose dialplan runs Stasis(app, exten, inbound).

        `silence_suppression` (default: the emulator's) makes the phone send nothing while silent.
        """
        app = app or next(iter(self.apps), "contactcenter")
        chan = Channel(
            id=self._uniqueid(),
            name=f"PJSIP/phone-{self._seq:08x}",
            caller={"name": "", "number": caller_number},
            dialplan={
                "context": context,
                "exten": exten,
                "priority": 3,
                "app_name": "Stasis",
                "app_data": f"{app},{exten},inbound",
            },
            phone=Phone(
                silence_suppression=(
                    self.silence_suppression if silence_suppression is None else silence_suppression
                )
            ),
        )
        if not self.app_registered(app):
            # No events socket holds the app: Stasis() fails at once and the dialplan hangs up (§0.7).
            chan.phone.stasis_failed = True
            chan.phone.end_cause = 16
            chan.phone.ended.set()
            self.finished_calls.append(chan)
            return chan
        self.channels[chan.id] = chan
        chan.app = app
        self.emit(app, "StasisStart", args=[exten, "inbound"], channel=chan.json())
        return chan

    def send_dtmf(self, chan: Channel, digit: str, duration_ms: int = 100) -> None:
        """The caller presses a key: ChannelDtmfReceived to the app, and through the bridge to legs."""
        if chan.hungup:
            return
        self.emit(chan.app, "ChannelDtmfReceived", digit=digit, duration_ms=duration_ms, channel=chan.json())
        if chan.bridge:
            for other in chan.bridge.channels:
                if other.leg is not None:
                    other.leg.send_dtmf(digit)

    async def caller_hangup(self, chan: Channel) -> None:
        await self.hangup_channel(chan, 16)

    # --- channel life -------------------------------------------------------------------------------
    async def hangup_channel(self, chan: Channel, cause: int, by_ari: bool = False) -> None:
        if chan.hungup:
            return
        chan.hungup = True
        app = chan.app
        if by_ari:
            self.emit(app, "ChannelHangupRequest", cause=32, soft=True, channel=chan.json())
        else:
            self.emit(app, "ChannelHangupRequest", cause=cause, channel=chan.json())
        if chan.playback:
            self._finish_playback(chan.playback, "done")
        if chan.bridge:
            bridge = chan.bridge
            bridge.channels.remove(chan)
            chan.bridge = None
            self.emit(bridge.app, "ChannelLeftBridge", bridge=bridge.json(), channel=chan.json())
        if chan.leg:
            await chan.leg.close()
            if isinstance(chan.leg, WebSocketLeg):
                self.ws_legs.pop(chan.leg.connection_id, None)
        chan.state = "Down"
        if app:
            self.emit(app, "StasisEnd", channel=chan.json())
        self.emit(
            app,
            "ChannelDestroyed",
            cause=cause,
            cause_txt=CAUSE_TEXT.get(cause, "Unknown"),
            channel=chan.json(),
        )
        self.channels.pop(chan.id, None)
        if chan.phone:
            chan.phone.end_cause = cause
            chan.phone.ended.set()
        self.finished_calls.append(chan)

    def leg_failed(self, chan: Channel, cause: int) -> None:
        """The leg's socket died (app closed it, or sent what Asterisk rejects): hang up the leg."""
        self.loop_task(self.hangup_channel(chan, cause))

    def _enter_stasis(self, chan: Channel, app: str, args: list[str]) -> None:
        if chan.hungup:
            return
        chan.app = app
        chan.state = "Up"
        self.emit(app, "StasisStart", args=args, channel=chan.json())

    # --- the 20 ms clock ----------------------------------------------------------------------------
    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += 0.02
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.max_tick_lag_ms = max(self.max_tick_lag_ms, -delay * 1000)
                if delay < -0.2:
                    next_at = loop.time()
            try:
                self._mix()
            except Exception:
                log.exception("emulator: mixer tick failed")

    def _mix(self) -> None:
        mics: dict[str, bytes | None] = {}  # what each phone says this tick (None: nothing sent)
        for chan in list(self.channels.values()):
            phone = chan.phone
            if phone is None or chan.hungup:
                continue
            if chan.state == "Up" and phone.mic:
                mics[chan.id] = phone.mic.popleft()
            else:
                mics[chan.id] = None if phone.silence_suppression else SILENCE
        for chan in list(self.channels.values()):
            phone = chan.phone
            if phone is None or chan.hungup:
                continue
            up = chan.state == "Up"
            mic = mics.get(chan.id)
            ear = [] if not up else self._playback_frame(chan)
            if chan.bridge and up:
                for other in chan.bridge.channels:
                    if other is chan or other.hungup:
                        continue
                    if other.leg is None:
                        # Two phones in one bridge (a warm transfer's caller and person) hear each other.
                        said = mics.get(other.id) if other.state == "Up" else None
                        if said is not None and said is not SILENCE:
                            ear.append(said)
                        continue
                    frame = other.leg.pop_inbound()
                    if frame is not None:
                        ear.append(frame)
                    if mic is None:
                        other.leg.skip_frame()
                    else:
                        other.leg.send_frame(mic)
            if up:
                phone.heard += _mix(ear)
        # Legs not bridged to a phone still drain (Asterisk discards what an unbridged leg gets).
        for chan in list(self.channels.values()):
            if chan.leg is not None and (
                chan.bridge is None or not any(c.phone for c in chan.bridge.channels)
            ):
                chan.leg.pop_inbound()

    def _playback_frame(self, chan: Channel) -> list[bytes]:
        playback = chan.playback
        if playback is None:
            return []
        if playback.state == "queued":
            playback.state = "playing"
            self.emit(chan.app, "PlaybackStarted", playback=playback.json())
        if playback.frames:
            return [playback.frames.popleft()]
        self._finish_playback(playback, "done")
        return []

    def _finish_playback(self, playback: Playback, state: str) -> None:
        playback.state = state
        chan = playback.channel
        if chan.playback is playback:
            chan.playback = None
        self.playbacks.pop(playback.id, None)
        self.emit(chan.app, "PlaybackFinished", playback=playback.json())
        key = {dialled_person.ACCEPTS: "1", dialled_person.DECLINES: "2"}.get(chan.person or "")
        if key and state == "done" and not chan.hungup and not chan.keys_pressed:
            # The person heard the brief to its end, then presses their key.
            self.loop.call_later(0.3, self._person_presses, chan, key)

    def _person_presses(self, chan: Channel, key: str) -> None:
        if chan.hungup or chan.keys_pressed:
            return
        chan.keys_pressed.append(key)
        self.send_dtmf(chan, key)

    # --- HTTP ---------------------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return self.users.get(user) == password and user in self.users
        key = request.query.get("api_key", "")
        if key:
            user, _, password = key.partition(":")
            return user in self.users and self.users[user] == password
        return False

    def _unauthorised(self) -> web.Response:
        return web.json_response(
            {"message": "Authentication required"},
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'},
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self.ari_down_until:
            return web.json_response({"message": "Asterisk not booted"}, status=503)
        if not self._authorised(request):
            return self._unauthorised()
        apps = [a for a in request.query.get("app", "").split(",") if a]
        if not apps:
            return web.json_response({"message": "HTTP request is missing param: [app]"}, status=400)
        ws = web.WebSocketResponse(protocols=("ari",), autoping=True)
        await ws.prepare(request)
        self.event_connections += 1
        for app in apps:
            for old in self.apps.get(app, []):
                if not old.closed:
                    await old.send_str(
                        json.dumps(
                            {
                                "type": "ApplicationReplaced",
                                "timestamp": timestamp(),
                                "application": app,
                                "asterisk_id": self.asterisk_id,
                            }
                        )
                    )
            self.apps[app] = [ws]
            if facts.has(self.version, "application_registered"):
                self.emit(app, "ApplicationRegistered")
        try:
            async for _ in ws:
                pass
        finally:
            for app in apps:
                if ws in self.apps.get(app, []):
                    self.apps[app].remove(ws)
        return ws

    async def _media(self, request: web.Request) -> web.StreamResponse:
        leg = self.ws_legs.get(request.match_info["conn"])
        if leg is None:
            return web.json_response({"message": "Not found"}, status=404)
        if leg.ws is not None:
            return web.json_response({"message": "Already connected"}, status=409)
        ws = web.WebSocketResponse(protocols=("media",), max_msg_size=65500)
        await ws.prepare(request)
        leg.ws = ws
        await leg.on_open()
        # The leg auto-answers once the socket is up, and only then enters Stasis (§3c).
        self._enter_stasis(
            leg.channel, leg.channel.variables.get("_app", ""), leg.channel.variables.get("_args", [])
        )
        try:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    leg.on_binary(message.data)
                elif message.type == WSMsgType.TEXT:
                    leg.on_text(message.data)
        finally:
            if not leg.closed:
                leg.closed = True
                await self.hangup_channel(leg.channel, 16)
        return ws

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info.get("tail", "")
        status = 500
        try:
            response = await self._dispatch(request, path)
            status = response.status
            return response
        except AriHttpError as exc:
            status = exc.status
            return web.json_response({"message": exc.message}, status=exc.status)
        finally:
            self.requests.append((request.method, path, status))

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise AriHttpError(400, "Error parsing request body") from None
                if isinstance(body, dict):
                    params.update(body)
            elif request.content_type == "application/x-www-form-urlencoded":
                params.update(dict(await request.post()))
        params.pop("api_key", None)
        return params

    ROUTES: list[tuple[str, str, str]] = [
        ("GET", r"/asterisk/info", "info"),
        ("GET", r"/asterisk/ping", "ping"),
        ("GET", r"/channels", "list_channels"),
        ("POST", r"/channels", "originate"),
        ("POST", r"/channels/externalMedia", "external_media"),
        ("GET", r"/channels/(?P<id>[^/]+)", "get_channel"),
        ("DELETE", r"/channels/(?P<id>[^/]+)", "delete_channel"),
        ("POST", r"/channels/(?P<id>[^/]+)/answer", "answer"),
        ("POST", r"/channels/(?P<id>[^/]+)/play", "play"),
        ("POST", r"/channels/(?P<id>[^/]+)/continue", "continue_"),
        ("POST", r"/channels/(?P<id>[^/]+)/redirect", "redirect"),
        ("POST", r"/channels/(?P<id>[^/]+)/variable", "set_variable"),
        ("GET", r"/channels/(?P<id>[^/]+)/variable", "get_variable"),
        ("GET", r"/bridges", "list_bridges"),
        ("POST", r"/bridges", "create_bridge"),
        ("GET", r"/bridges/(?P<id>[^/]+)", "get_bridge"),
        ("POST", r"/bridges/(?P<id>[^/]+)", "create_bridge"),
        ("DELETE", r"/bridges/(?P<id>[^/]+)", "delete_bridge"),
        ("POST", r"/bridges/(?P<id>[^/]+)/addChannel", "add_channel"),
        ("POST", r"/bridges/(?P<id>[^/]+)/removeChannel", "remove_channel"),
        ("DELETE", r"/playbacks/(?P<id>[^/]+)", "stop_playback"),
        ("GET", r"/applications/(?P<name>[^/]+)", "get_application"),
    ]

    async def _dispatch(self, request: web.Request, path: str) -> web.Response:
        if time.monotonic() < self.ari_down_until:
            raise AriHttpError(503, "Asterisk not booted")
        if not self._authorised(request):
            return self._unauthorised()
        if len(path) > 1 and path.endswith("/"):
            raise AriHttpError(404, f"ARI URLs do not end with a slash. Try /ari{path.rstrip('/')}")
        for method, regex, status, message, left, needle in self.faults:
            if method == request.method and regex.fullmatch(path) and left[0] > 0:
                if needle and not any(needle in str(v) for v in (await self._params(request)).values()):
                    continue
                left[0] -= 1
                raise AriHttpError(status, message)
        path_matched = False
        for method, pattern, name in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if not match:
                continue
            path_matched = True
            if method != request.method:
                continue
            params = await self._params(request)
            result = await getattr(self, "_op_" + name)(params, **match.groupdict())
            if isinstance(result, web.Response):
                return result
            if result is None:
                return web.Response(status=204)
            return web.json_response(result)
        if path_matched:
            raise AriHttpError(405, "Invalid method")
        raise AriHttpError(404, "Resource not found")

    def _channel(self, cid: str, *, stasis: bool = True) -> Channel:
        chan = self.channels.get(cid)
        if chan is None:
            raise AriHttpError(404, "Channel not found")
        if stasis and chan.app is None:
            raise AriHttpError(409, "Channel not in Stasis application")
        return chan

    # --- operations -----------------------------------------------------------------------------
    async def _op_info(self, params) -> dict:
        return {
            "build": {
                "os": "Linux",
                "kernel": "6.1.0",
                "options": "",
                "machine": "x86_64",
                "date": "",
                "user": "",
            },
            "system": {"version": self.version, "entity_id": self.asterisk_id},
            "config": {"name": "", "default_language": "en", "setid": {"user": "", "group": ""}},
            "status": {"startup_time": self._startup, "last_reload_time": self._startup},
        }

    async def _op_get_application(self, params, name) -> dict:
        """An app exists while a client holds its events socket (`manage.py doctor` asks)."""
        if not self.app_registered(name):
            raise AriHttpError(404, "Application does not exist.")
        return {
            "name": name,
            "channel_ids": [c.id for c in self.channels.values() if c.app == name],
            "bridge_ids": [],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }

    async def _op_ping(self, params) -> dict:
        return {"asterisk_id": self.asterisk_id, "ping": "pong", "timestamp": timestamp()}

    async def _op_list_channels(self, params) -> list:
        return [c.json() for c in self.channels.values()]

    async def _op_originate(self, params) -> dict:
        """POST /channels: dial an endpoint; on answer the channel enters Stasis(app, appArgs).

        Returns the channel (state Down) at once; the answer (StasisStart) or the failure
        (ChannelDestroyed with its cause, no StasisStart) follows after `ring_seconds` (§2.7).
        """
        endpoint = params.get("endpoint", "")
        if not endpoint:
            raise AriHttpError(400, "Endpoint must be specified")
        app = params.get("app", "")
        if not app and not params.get("extension"):
            raise AriHttpError(400, "Application or extension must be specified")
        if params.get("originator") and params.get("formats"):
            raise AriHttpError(400, "Originator and formats can't both be specified")
        cid = params.get("channelId") or self._uniqueid()
        if cid in self.channels:
            raise AriHttpError(409, "Channel with given unique ID already exists")
        tech, _, rest = endpoint.partition("/")
        number = rest.split("@", 1)[0]
        if not tech or not number:
            raise AriHttpError(400, "Invalid endpoint specified")
        self.originated.append(dict(params))
        self._seq += 1
        chan = Channel(
            id=cid,
            name=f"{tech}/{rest.split('@', 1)[-1]}-{self._seq:08x}",
            state="Down",
            caller={"name": "", "number": params.get("callerId", "")},
            dialplan={"context": "default", "exten": number, "priority": 1, "app_name": "", "app_data": ""},
            phone=Phone(),
        )
        self.channels[cid] = chan
        queue = self.outcomes.get(number)
        chan.person = dialled_person.behaviour(endpoint)
        outcome = queue.pop(0) if queue else "answer"
        if not queue and chan.person in (dialled_person.NEVER_ANSWERS, dialled_person.BUSY):
            outcome = chan.person
        ring = self.ring_seconds
        if outcome == "no-answer":
            # Rings until the originate's `timeout` (30 s by default; capped at 2 s here for tests).
            try:
                ring = min(float(params.get("timeout") or 30), 2.0)
            except (TypeError, ValueError):
                raise AriHttpError(400, "timeout: Invalid integer value") from None
        args = [a for a in str(params.get("appArgs", "")).split(",") if a]
        self.loop.call_later(ring, self._originate_result, chan, app, args, outcome)
        return chan.json()

    def _originate_result(self, chan: Channel, app: str, args: list[str], outcome: str) -> None:
        if chan.hungup:
            return
        if outcome == "answer":
            chan.phone.answered.set()
            self._enter_stasis(chan, app, args)
            return
        cause = {"busy": 17, "no-answer": 19}.get(outcome, 34)
        chan.hungup = True
        chan.state = "Down"
        self.channels.pop(chan.id, None)
        # The originating app is subscribed to the channel: it hears how the dial ended.
        self.emit(
            app,
            "ChannelDestroyed",
            cause=cause,
            cause_txt=CAUSE_TEXT.get(cause, "Unknown"),
            channel=chan.json(),
        )
        chan.phone.end_cause = cause
        chan.phone.ended.set()
        self.finished_calls.append(chan)

    async def _op_get_channel(self, params, id) -> dict:
        return self._channel(id, stasis=False).json()

    async def _op_delete_channel(self, params, id) -> None:
        chan = self._channel(id, stasis=False)
        if params.get("reason") and params.get("reason_code"):
            raise AriHttpError(400, "The reason and reason_code can't both be specified")
        if params.get("reason_code"):
            cause = int(params["reason_code"])
        else:
            reason = params.get("reason", "normal") or "normal"
            if reason not in CAUSES:
                raise AriHttpError(400, "Invalid reason for hangup provided")
            cause = CAUSES[reason]
        await self.hangup_channel(chan, cause, by_ari=True)

    async def _op_answer(self, params, id) -> None:
        chan = self._channel(id)
        if chan.state != "Up":
            chan.state = "Up"
            self.emit(chan.app, "ChannelStateChange", channel=chan.json())
            if chan.phone:
                chan.phone.answered.set()

    async def _op_play(self, params, id) -> web.Response:
        chan = self._channel(id)
        media = params.get("media", "")
        if not media:
            raise AriHttpError(400, "media: Missing required field")
        pid = params.get("playbackId") or str(uuid.uuid4())
        if pid in self.playbacks:
            raise AriHttpError(409, "Playback ID already exists")
        chan.media_heard.append(media)
        if media.startswith(("sound:http://", "sound:https://")):
            frames = await self._fetch_sound(media[len("sound:") :])
        else:
            frames = self._load_sound(media)
        playback = Playback(pid, media, chan, deque(frames or []))
        if frames is None:
            playback.state = "failed"
            self.loop.call_soon(lambda: self.emit(chan.app, "PlaybackFinished", playback=playback.json()))
        else:
            self.playbacks[pid] = playback
            chan.playback = playback
        return web.json_response(playback.json(), status=201, headers={"Location": f"/playbacks/{pid}"})

    async def _fetch_sound(self, url: str) -> list[bytes] | None:
        """A `sound:http(s)://` URI as Asterisk's HTTP media cache takes it: fetched, then played by the
        format its name or Content-Type gives. Only `.wav` (format_wav: 8 kHz, mono, 16-bit) is
        emulated; anything else fails the playback, as a missing sound file would."""
        import io

        import httpx

        if self.http is None:
            self.http = httpx.AsyncClient(timeout=10, trust_env=False)
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as exc:
            log.warning("sound %s: fetch failed: %s", url, exc)
            self.media_fetches.append((url, 0))
            return None
        self.media_fetches.append((url, response.status_code))
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        path = url.split("?", 1)[0]
        if response.status_code != 200 or not (path.endswith(".wav") or kind in ("audio/wav", "audio/x-wav")):
            return None
        try:
            with wave.open(io.BytesIO(response.content), "rb") as wav:
                shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
                pcm = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError):
            return None
        if shape != (8000, 1, 2):
            log.warning(
                "sound %s: %s Hz, %s channel(s), %s-byte samples: format_wav plays 8 kHz mono", url, *shape
            )
            return None
        resampler = Resampler(8000, 16000)
        pcm = resampler.process(pcm) + resampler.flush()
        pcm += bytes(-len(pcm) % FRAME)
        return [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]

    def _load_sound(self, media: str) -> list[bytes] | None:
        if not media.startswith("sound:") or self.sounds_dir is None:
            return None
        name = media[len("sound:") :]
        path = self.sounds_dir / f"{name}.wav"
        if not re.fullmatch(r"[\w./-]+", name) or ".." in name or not path.exists():
            return None
        with wave.open(str(path), "rb") as wav:
            rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
        resampler = Resampler(rate, 16000)
        pcm = resampler.process(pcm) + resampler.flush()
        pcm += bytes(-len(pcm) % FRAME)
        return [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]

    async def _op_stop_playback(self, params, id) -> None:
        playback = self.playbacks.get(id)
        if playback is None:
            raise AriHttpError(404, "Playback not found")
        self._finish_playback(playback, "done")

    async def _op_continue_(self, params, id) -> None:
        chan = self._channel(id)
        app = chan.app
        if chan.bridge:
            bridge = chan.bridge
            bridge.channels.remove(chan)
            chan.bridge = None
            self.emit(bridge.app, "ChannelLeftBridge", bridge=bridge.json(), channel=chan.json())
        chan.dialplan.update(
            context=params.get("context") or chan.dialplan.get("context"),
            exten=params.get("extension") or chan.dialplan.get("exten"),
        )
        self.emit(app, "StasisEnd", channel=chan.json())
        chan.app = None

    async def _op_redirect(self, params, id) -> None:
        chan = self._channel(id)
        endpoint = params.get("endpoint", "")
        if not endpoint:
            raise AriHttpError(400, "Required parameter endpoint not present")
        if not endpoint.upper().startswith("PJSIP/"):
            raise AriHttpError(422, "Endpoint is not the same type as the channel")
        await self.hangup_channel(chan, 16)

    async def _op_set_variable(self, params, id) -> None:
        chan = self._channel(id, stasis=False)
        if not params.get("variable"):
            raise AriHttpError(400, "Variable name is required")
        chan.variables[params["variable"]] = params.get("value", "")

    async def _op_get_variable(self, params, id) -> dict:
        chan = self._channel(id, stasis=False)
        name = params.get("variable", "")
        if not name:
            raise AriHttpError(400, "Variable name is required")
        if name not in chan.variables:
            raise AriHttpError(404, "Provided variable was not found")
        return {"value": chan.variables[name]}

    async def _op_list_bridges(self, params) -> list:
        return [b.json() for b in self.bridges.values()]

    async def _op_get_bridge(self, params, id) -> dict:
        if id not in self.bridges:
            raise AriHttpError(404, "Bridge not found")
        return self.bridges[id].json()

    async def _op_create_bridge(self, params, id: str | None = None) -> dict:
        bid = id or params.get("bridgeId") or str(uuid.uuid4())
        if bid in self.bridges:
            raise AriHttpError(409, f"Bridge with id '{bid}' already exists")
        app = next(iter(self.apps), "")
        bridge = self.bridges[bid] = Bridge(bid, params.get("name", ""), app)
        self.emit(app, "BridgeCreated", bridge=bridge.json())
        return bridge.json()

    async def _op_delete_bridge(self, params, id) -> None:
        bridge = self.bridges.pop(id, None)
        if bridge is None:
            raise AriHttpError(404, "Bridge not found")
        for chan in list(bridge.channels):
            chan.bridge = None
            self.emit(bridge.app, "ChannelLeftBridge", bridge=bridge.json(), channel=chan.json())
        bridge.channels.clear()
        self.emit(bridge.app, "BridgeDestroyed", bridge=bridge.json())

    async def _op_add_channel(self, params, id) -> None:
        bridge = self.bridges.get(id)
        if bridge is None:
            raise AriHttpError(404, "Bridge not found")
        ids = [c for c in str(params.get("channel", "")).split(",") if c]
        if not ids:
            raise AriHttpError(400, "channel: Missing required field")
        chans = []
        for cid in ids:
            chan = self.channels.get(cid)
            if chan is None:
                raise AriHttpError(400, "Channel not found")
            if chan.app is None:
                raise AriHttpError(422, "Channel not in Stasis application")
            chans.append(chan)
        for chan in chans:
            if chan.bridge is bridge:
                continue
            if chan.bridge is not None:
                chan.bridge.channels.remove(chan)
            chan.bridge = bridge
            bridge.channels.append(chan)
            for other in bridge.channels:
                for phone_side, leg_side in ((other, chan), (chan, other)):
                    if phone_side.phone and leg_side.leg and leg_side.leg not in phone_side.phone.legs:
                        phone_side.phone.legs.append(leg_side.leg)
            self.emit(bridge.app, "ChannelEnteredBridge", bridge=bridge.json(), channel=chan.json())

    async def _op_remove_channel(self, params, id) -> None:
        bridge = self.bridges.get(id)
        if bridge is None:
            raise AriHttpError(404, "Bridge not found")
        chan = self.channels.get(str(params.get("channel", "")))
        if chan is None:
            raise AriHttpError(400, "Channel not found")
        if chan.bridge is not bridge:
            raise AriHttpError(422, "Channel not in this bridge")
        bridge.channels.remove(chan)
        chan.bridge = None
        self.emit(bridge.app, "ChannelLeftBridge", bridge=bridge.json(), channel=chan.json())

    async def _op_external_media(self, params) -> dict:
        app = params.get("app", "")
        if not app:
            raise AriHttpError(400, "app cannot be empty")
        encapsulation = params.get("encapsulation", "rtp") or "rtp"
        transport = params.get("transport", "udp") or "udp"
        connection_type = params.get("connection_type", "client") or "client"
        host = params.get("external_host", "")
        fmt = params.get("format", "")
        if transport == "websocket":
            if not facts.has(self.version, "websocket_media"):
                raise AriHttpError(400, "transport must be 'udp' for rtp encapsulation")
            if encapsulation != "none":
                raise AriHttpError(400, "encapsulation must be 'none' for websocket transport")
        elif encapsulation == "rtp" and transport != "udp":
            raise AriHttpError(400, "transport must be 'udp' for rtp encapsulation")
        elif encapsulation == "audiosocket" and transport != "tcp":
            raise AriHttpError(400, "transport must be 'tcp' for audiosocket encapsulation")
        if connection_type == "server" and transport != "websocket":
            raise AriHttpError(400, "'server' connection_type can only be used with the websocket transport")
        if not host and not (transport == "websocket" and connection_type == "server"):
            raise AriHttpError(400, "external_host is required for all but websocket server connections")
        if not fmt:
            raise AriHttpError(400, "format cannot be empty")
        if fmt not in ("ulaw", "alaw", "slin", "slin16"):
            raise AriHttpError(501, f"Format {fmt} not supported by the emulator")
        external = None
        if transport != "websocket":
            hostpart, _, port = host.rpartition(":")
            if not hostpart or not port.isdigit():
                raise AriHttpError(
                    400, "external_host must be <host>:<port> for all transports other than websocket"
                )
            external = (hostpart, int(port))
        if transport == "websocket" and connection_type != "server":
            raise AriHttpError(400, "external_host must be a valid websocket_client connection id.")
        data = params.get("data", "")
        if encapsulation == "audiosocket":
            if not data:
                raise AriHttpError(400, "data can not be empty")
            try:
                call_uuid = uuid.UUID(data)
            except ValueError:
                raise AriHttpError(400, "data must be a UUID for audiosocket") from None
        cid = params.get("channelId") or self._uniqueid()
        if cid in self.channels:
            raise AriHttpError(409, "Channel with given unique ID already exists")
        chan = Channel(
            id=cid,
            name="",
            state="Down",
            dialplan={"context": "default", "exten": "s", "priority": 1, "app_name": "", "app_data": ""},
        )
        args = [data] if data else []
        if encapsulation == "rtp":
            leg = RtpLeg(self, chan, fmt, external)
            await leg.start(self.media_host)
            chan.name = f"UnicastRTP/{host}-0x{id(leg):x}"
            chan.channelvars = {
                "UNICASTRTP_LOCAL_ADDRESS": leg.local[0],
                "UNICASTRTP_LOCAL_PORT": str(leg.local[1]),
            }
        elif encapsulation == "audiosocket":
            leg = AudioSocketLeg(self, chan, fmt, external, call_uuid)
            chan.name = f"AudioSocket/{host}-{call_uuid}"
        else:
            leg = WebSocketLeg(self, chan, fmt, self.ws_control_format)
            chan.name = f"WebSocket/INCOMING/0x{id(leg):x}"
            chan.channelvars = {
                "MEDIA_WEBSOCKET_CONNECTION_ID": leg.connection_id,
                "MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE": str(leg.optimal),
            }
            self.ws_legs[leg.connection_id] = leg
        chan.leg = leg
        chan.app = None
        chan.variables["_args"] = args
        self.channels[cid] = chan
        response = chan.json(with_vars=True)
        # The dial runs in its own thread: StasisStart may come before or after this response (§0.4).
        if encapsulation == "rtp":
            self.loop.call_later(random.uniform(0, 0.004), self._enter_stasis, chan, app, args)
        elif encapsulation == "audiosocket":
            self.loop_task(self._dial_audiosocket(leg, app, args))
        else:
            chan.variables["_app"] = app  # enters Stasis once the app connects to /media/<id>
        return response

    async def _dial_audiosocket(self, leg: AudioSocketLeg, app: str, args: list[str]) -> None:
        try:
            await leg.connect()
        except (OSError, TimeoutError) as exc:
            log.warning("audiosocket leg: cannot connect to %s: %s", leg.external, exc)
            leg.closed = True
            chan = leg.channel
            chan.hungup = True
            self.channels.pop(chan.id, None)
            self.emit(app, "ChannelDestroyed", cause=38, cause_txt=CAUSE_TEXT[38], channel=chan.json())
            return
        self._enter_stasis(leg.channel, app, args)


def _mix(frames: list[bytes]) -> bytes:
    if not frames:
        return SILENCE
    if len(frames) == 1:
        return frames[0]
    import numpy as np

    total = np.sum([np.frombuffer(f, dtype="<i2").astype(np.int32) for f in frames], axis=0)
    return np.clip(total, -32768, 32767).astype("<i2").tobytes()
