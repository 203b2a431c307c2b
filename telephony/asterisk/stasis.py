"""The Stasis application: what happens to a call that enters `Stasis(<ARI_APP>)`.

StasisStart (caller) -> route_extension(context, exten) -> answer -> mixing bridge (our id) ->
add caller -> media leg (externalMedia with a channel id we chose, so its own StasisStart is
recognised as a leg, not a call) -> on the leg's StasisStart add it to the bridge (earlier gives
422 "Channel not in Stasis application"; a 422 anyway is retried briefly) -> engine.start_call
with the leg's MediaPort. An unknown extension hears the apology through ARI `play` and is hung
up. Whatever ends the call (caller hangs up, engine hangs up, leg dies, ARI resync finds the
caller gone) runs one idempotent teardown: engine, media socket, leg, bridge, caller.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any

from channels.db import database_sync_to_async

from agents.models import Carrier
from agents.routing import route_extension
from calls.models import Call
from contactcenter.logging import call_context
from engine.port import CallRequest, TransferOffer, TransferOutcome, WireFormat
from telephony.outbound.dial import (
    ASTERISK_CAUSES,
    asterisk_call_id,
    asterisk_endpoint,
    record_unanswered,
    route_call,
)
from telephony.rtp import RtpEndpoint, payload_type_for

from . import versions
from .ari import AriClient, AriError, AriNotFound, AriUnprocessable
from .audiosocket import AudioSocketServer, AudioSocketSession
from .config import FORMAT_WIRE, AsteriskConfig
from .ports import AudioSocketPort, RtpPort, WebSocketPort
from .sounds import SoundServer
from .warm import PERSON_PREFIX, WarmTransfer
from .wsmedia import WebSocketMedia

log = logging.getLogger(__name__)

LEG_PREFIX = "cc-leg-"
BRIDGE_PREFIX = "cc-br-"
PLAYBACK_PREFIX = "cc-pb-"
LEG_NAMES = ("UnicastRTP/", "AudioSocket/", "WebSocket/", "Snoop/")
APOLOGY_SOUND = "sound:contactcenter-apology"
LEG_TIMEOUT_S = 10.0
APOLOGY_TIMEOUT_S = 30.0
PLAIN_NUMBER = re.compile(r"^\+?\d{2,32}$")


class CallGone(Exception):
    """The call ended while it was being set up."""


def ari_reason(reason: str) -> str:
    """An engine reason in words -> the `reason` ARI's DELETE /channels takes (a Q.850 cause)."""
    text = (reason or "").lower()
    if "busy" in text or "cap" in text:
        return "busy"
    if "unknown" in text or "unallocated" in text:
        return "unallocated"
    if "fail" in text or "error" in text or "unavailable" in text:
        return "congestion"
    return "normal"


class StasisCall:
    """One caller in our Stasis app, with its bridge, media leg and engine call."""

    def __init__(self, app: StasisApp, channel: dict[str, Any], args: list[str] | None = None) -> None:
        self.app = app
        self.ari: AriClient = app.ari
        self.caller_id: str = channel["id"]
        dialplan = channel.get("dialplan") or {}
        self.context = dialplan.get("context", "")
        self.extension = dialplan.get("exten", "")
        self.caller_number = (channel.get("caller") or {}).get("number", "")
        # An outbound call we originated (telephony.outbound) enters with appArgs "outbound,<call id>".
        args = list(args or [])
        self.outbound_call_id = args[1] if len(args) >= 2 and args[0] == "outbound" else ""
        # Ids carry the app name: another runasterisk on the same PBX (another app) must be able to
        # tell our legs and bridges from its own orphans when it resyncs.
        token = f"{app.ari.app}-{uuid.uuid4().hex[:20]}"
        self.bridge_id = BRIDGE_PREFIX + token
        self.leg_id = LEG_PREFIX + token
        self.playback_id = PLAYBACK_PREFIX + token
        self.leg_in_stasis = asyncio.Event()
        self.playback_done = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason = ""
        self.hangup_reason = "normal"
        self.transferred = False
        self.person_id = ""  # a warm transfer's person, once bridged with the caller (the engine is gone)
        self.handle = None
        self.media: RtpEndpoint | AudioSocketSession | WebSocketMedia | None = None
        self.bridge_created = False
        self.leg_created = False
        self.task: asyncio.Task | None = None
        self._torn_down = False

    # --- events from the app -------------------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"call-{self.caller_id}")

    def end(self, reason: str) -> None:
        """Something outside the engine ended the call (caller, leg, Asterisk)."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        if self.handle is not None:
            self.handle.remote_hangup(reason)

    def fail(self, reason: str) -> None:
        """Handling this call's media raised: end it as failed (stored so, caller hung up), alone."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        self.ended.set()
        if self.handle is not None:
            self.handle.remote_hangup(reason, failed=True)

    def dtmf(self, digit: str) -> None:
        if self.handle is not None and not self.ended.is_set():
            self.handle.push_dtmf(digit)

    # --- media callbacks (event loop, must not block) -------------------------------------------
    def _audio(self, payload: bytes, *_: Any) -> None:
        if self.handle is not None:
            self.handle.push_audio(payload)

    def _mark(self, name: str) -> None:
        if self.handle is not None:
            self.handle.mark_played(name)

    def _media_closed(self, reason: str) -> None:
        self.end(reason)

    def _rtp_fault(self, exc: Exception) -> None:
        self.fail(f"RTP handling failed: {type(exc).__name__}")

    # --- the call -------------------------------------------------------------------------------
    async def run(self) -> None:
        with call_context(self.caller_id):
            try:
                await self._run()
            except CallGone:
                log.info("call ended during set-up: %s", self.end_reason)
            except AriError as exc:
                log.error("ARI refused a step of the call: %s", exc)
                self.hangup_reason = "congestion"
            except Exception:
                log.exception("call failed")
                self.hangup_reason = "congestion"
            finally:
                await self.teardown()

    def _check(self) -> None:
        if self.ended.is_set():
            raise CallGone(self.end_reason)

    async def _until(self, event: asyncio.Event, timeout: float, what: str) -> None:
        """Wait for `event`, unless the call ends first (CallGone) or time runs out."""
        waiter = asyncio.ensure_future(event.wait())
        gone = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({waiter, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            gone.cancel()
        if not event.is_set():
            self._check()
            raise TimeoutError(f"no {what} within {timeout:.0f} s")

    async def _run(self) -> None:
        if self.outbound_call_id:
            route = await database_sync_to_async(route_call)(self.outbound_call_id)
        else:
            route = await database_sync_to_async(route_extension)(self.context, self.extension)
        self._check()
        if not route.found:
            if not self.outbound_call_id:  # an originated call has its row already
                await database_sync_to_async(Call.record_refused)(
                    Carrier.ASTERISK, self.caller_number, self.extension, self.caller_id, route.reason
                )
            await self._apologise()
            return
        transport, fmt = self.app.config.transport_for(route.media_transport)
        if transport == "websocket" and not versions.has(self.app.version, "websocket_media"):
            log.error(
                "Asterisk %s has no WebSocket media (needs 20.16 / 21.11 / 22.6+): using AudioSocket",
                ".".join(map(str, self.app.version)),
            )
            transport, fmt = "audiosocket", "slin16"
        log.info(
            "call from %s to %s@%s over %s/%s",
            self.caller_number,
            self.extension,
            self.context,
            transport,
            fmt,
        )
        await self.ari.answer(self.caller_id)
        self._check()
        await self.ari.create_bridge(self.bridge_id, name=f"call-{self.caller_id}")
        self.bridge_created = True
        await self.ari.add_channel(self.bridge_id, self.caller_id)
        self._check()
        encoding, rate = FORMAT_WIRE[fmt]
        wire = WireFormat(encoding, rate)
        port = await getattr(self, f"_open_{transport}")(fmt, wire)
        await self._until(self.leg_in_stasis, LEG_TIMEOUT_S, "StasisStart for the media leg")
        await self._bridge_leg()
        self._check()
        from engine import start_call

        self.handle = await start_call(
            CallRequest(
                carrier=Carrier.ASTERISK,
                direction="outbound" if self.outbound_call_id else "inbound",
                call_id=uuid.UUID(self.outbound_call_id) if self.outbound_call_id else None,
                from_number=self.caller_number,
                to_number=self.extension,
                carrier_call_id=self.caller_id,
                context=self.context,
                extension=self.extension,
                variables={"asterisk_channel": self.caller_id, "media_transport": f"{transport}:{fmt}"},
            ),
            port,
        )
        if self.ended.is_set():
            self.handle.remote_hangup(self.end_reason)
        await self.handle.wait()
        if self.person_id:
            await self._keep_bridge()

    async def _keep_bridge(self) -> None:
        """After a warm transfer: the engine is done; caller and person talk in our bridge until one
        hangs up (then teardown hangs up the other and destroys the bridge)."""
        await self._close_media()
        log.info("caller and %s bridged; the agent has left", self.person_id)
        await self.ended.wait()

    async def _bridge_leg(self) -> None:
        """Add the leg; a 422 (leg not in Stasis yet, reference §0.4) is retried for ~2 s."""
        delay = 0.05
        for attempt in range(8):
            try:
                await self.ari.add_channel(self.bridge_id, self.leg_id)
                return
            except AriUnprocessable as exc:
                self._check()
                if attempt == 7:
                    raise
                log.warning("addChannel: %s (attempt %d), retrying", exc.message, attempt + 1)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    async def _external_media(self, **params: Any) -> dict:
        self.app.legs[self.leg_id] = self
        self.leg_created = True
        response = await self.ari.external_media(channelId=self.leg_id, **params)
        self._check()
        return response

    async def _open_rtp(self, fmt: str, wire: WireFormat) -> RtpPort:
        config = self.app.config
        pt = payload_type_for(fmt)
        endpoint = await RtpEndpoint.open(
            config.bind_host,
            ports=config.rtp_ports,
            advertise_host=config.advertise_host,
            latch=True,
            payload_type=pt,
            payload_types=frozenset({pt}),
            on_audio=self._audio,
            on_fault=self._rtp_fault,
        )
        self.media = endpoint
        host, port = endpoint.advertised_address
        response = await self._external_media(
            external_host=f"{host}:{port}", format=fmt, encapsulation="rtp", transport="udp"
        )
        variables = response.get("channelvars") or {}
        if variables.get("UNICASTRTP_LOCAL_ADDRESS") and variables.get("UNICASTRTP_LOCAL_PORT"):
            # Send to Asterisk's socket at once (the greeting goes first); latch follows NAT.
            endpoint.remote = (variables["UNICASTRTP_LOCAL_ADDRESS"], int(variables["UNICASTRTP_LOCAL_PORT"]))
        return RtpPort(self, wire, endpoint)

    async def _open_audiosocket(self, fmt: str, wire: WireFormat) -> AudioSocketPort:
        config = self.app.config
        session = AudioSocketSession(
            uuid.uuid4(),
            wire.rate,
            versions.has(self.app.version, "audiosocket_rate_kinds"),
            on_audio=self._audio,
            on_close=self._media_closed,
            on_fault=self.fail,
        )
        self.media = session
        self.app.audiosocket.register(session)
        await self._external_media(
            external_host=f"{config.advertise_host}:{self.app.audiosocket.port}",
            format=fmt,
            encapsulation="audiosocket",
            transport="tcp",
            data=str(session.call_uuid),
        )
        await self._until(session.connected, LEG_TIMEOUT_S, "AudioSocket connection")
        return AudioSocketPort(self, wire, session)

    async def _open_websocket(self, fmt: str, wire: WireFormat) -> WebSocketPort:
        response = await self._external_media(
            format=fmt, encapsulation="none", transport="websocket", connection_type="server"
        )
        connection_id = (response.get("channelvars") or {}).get("MEDIA_WEBSOCKET_CONNECTION_ID", "")
        if not connection_id:
            raise AriError(500, "externalMedia answered without MEDIA_WEBSOCKET_CONNECTION_ID")
        media = WebSocketMedia(
            f"{self.ari.media_base_url}/media/{connection_id}",
            marks=versions.has(self.app.version, "websocket_marks"),
            on_audio=self._audio,
            on_mark=self._mark,
            on_close=self._media_closed,
            on_fault=self.fail,
        )
        self.media = media
        await media.connect()
        await self._until(media.started, LEG_TIMEOUT_S, "MEDIA_START")
        return WebSocketPort(self, wire, media)

    async def _apologise(self) -> None:
        log.info("no agent for %s@%s: playing the apology", self.extension, self.context)
        self.hangup_reason = "unallocated"
        await self.ari.answer(self.caller_id)
        self.app.playbacks[self.playback_id] = self
        try:
            await self.ari.play(self.caller_id, self.app.apology_sound, self.playback_id)
            await self._until(self.playback_done, APOLOGY_TIMEOUT_S, "end of the apology")
        finally:
            self.app.playbacks.pop(self.playback_id, None)

    # --- from the engine -------------------------------------------------------------------------
    async def hangup_from_engine(self, reason: str) -> None:
        self.hangup_reason = ari_reason(reason)
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()
        await self._delete_channel(self.caller_id, self.hangup_reason)

    async def transfer(self, destination: str) -> dict[str, Any]:
        """PJSIP/… or SIP/…: redirect to that endpoint; exten@context: continue in the dialplan;
        a plain number: redirect to ASTERISK_DIAL_ENDPOINT with the number filled in."""
        if PLAIN_NUMBER.match(destination or ""):
            destination = asterisk_endpoint(destination)
        try:
            if "/" in destination:
                await self.ari.redirect(self.caller_id, destination)
            elif "@" in destination:
                exten, context = destination.split("@", 1)
                self.transferred = True
                await self.ari.continue_in_dialplan(self.caller_id, context, exten)
            else:
                return {
                    "ok": False,
                    "error": f"cannot transfer to {destination!r}: use PJSIP/x or exten@context",
                }
        except AriError as exc:
            self.transferred = False
            return {"ok": False, "error": exc.message or str(exc)}
        self.transferred = True
        return {"ok": True, "error": ""}

    async def warm_transfer(self, offer: TransferOffer) -> TransferOutcome:
        return await WarmTransfer(self, offer).run()

    def person_left(self, reason: str) -> None:
        """The bridged person hung up: the call is over for the caller too."""
        self.end(reason)

    # --- teardown ---------------------------------------------------------------------------------
    async def _delete_channel(self, channel_id: str, reason: str = "normal") -> None:
        try:
            await self.ari.hangup(channel_id, reason)
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("hangup of %s: %s", channel_id, exc)

    async def _close_media(self) -> None:
        media, self.media = self.media, None
        if isinstance(media, RtpEndpoint):
            media.close()
        elif isinstance(media, AudioSocketSession):
            self.app.audiosocket.unregister(media)
        elif isinstance(media, WebSocketMedia):
            await media.close()
        if self.leg_created:
            self.leg_created = False
            if self.person_id:  # the leg's hangup events must not end the caller's call with the person
                self.app.legs.pop(self.leg_id, None)
            await self._delete_channel(self.leg_id)

    async def teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        if not self.ended.is_set():
            self.end_reason = self.end_reason or "set-up ended"
            self.ended.set()
        if self.handle is not None:
            self.handle.remote_hangup(self.end_reason or "call ended")
            try:
                await asyncio.wait_for(self.handle.wait(), 30)
            except (TimeoutError, Exception):  # noqa: BLE001 - the engine logs its own failures
                log.warning("engine did not finish cleanly", exc_info=True)
        await self._close_media()
        if self.person_id:
            self.app.persons.pop(self.person_id, None)
            await self._delete_channel(self.person_id)
        if self.bridge_created:
            try:
                await self.ari.destroy_bridge(self.bridge_id)
            except AriError:
                pass
        if not self.transferred:
            await self._delete_channel(self.caller_id, self.hangup_reason)
        self.app.forget(self)
        log.info("call over (%s)", self.end_reason or self.hangup_reason)


class StasisApp:
    """Routes ARI events to calls; owns the shared AudioSocket server."""

    def __init__(
        self,
        ari: AriClient,
        config: AsteriskConfig,
        audiosocket: AudioSocketServer,
        apology_sound: str = APOLOGY_SOUND,
        sounds: SoundServer | None = None,
    ) -> None:
        self.ari = ari
        self.sounds = sounds  # serves a warm transfer's brief to Asterisk
        self.config = config
        self.audiosocket = audiosocket
        self.apology_sound = apology_sound
        self.version: tuple[int, int, int] = (0, 0, 0)
        self.calls: dict[str, StasisCall] = {}
        self.legs: dict[str, StasisCall] = {}
        self.playbacks: dict[str, StasisCall] = {}
        # A warm transfer's person channel and brief playback -> its transfer while it runs, then
        # (accepted) the person's channel -> the call that keeps the pair's bridge.
        self.persons: dict[str, WarmTransfer | StasisCall] = {}
        self.finished = 0

    def forget(self, call: StasisCall) -> None:
        if self.calls.get(call.caller_id) is call:
            del self.calls[call.caller_id]
        if self.legs.get(call.leg_id) is call:
            del self.legs[call.leg_id]
        self.playbacks.pop(call.playback_id, None)
        self.finished += 1

    async def on_connect(self) -> None:
        """After every (re)connection: learn the version, then reconcile what we hold with Asterisk."""
        try:
            info = await self.ari.info()
            text = ((info or {}).get("system") or {}).get("version", "")
            self.version = versions.parse_version(text)
            log.info("ari: Asterisk %s", text)
        except AriError as exc:
            log.warning("ari: /asterisk/info failed: %s", exc)
        await self.resync()

    async def resync(self) -> None:
        """Events are not replayed after a gap: end calls whose channels vanished, drop orphans."""
        channels = await self.ari.channels()
        alive = {c["id"] for c in channels}
        for call in list(self.calls.values()):
            if call.caller_id not in alive:
                call.end("caller hung up while ARI was away")
            elif call.person_id:  # handed off: the leg is gone on purpose; the person must be there
                if call.person_id not in alive:
                    call.end("the person hung up while ARI was away")
            elif call.leg_in_stasis.is_set() and call.leg_id not in alive:
                call.end("media leg vanished while ARI was away")
        persons = f"{PERSON_PREFIX}{self.ari.app}-"
        for channel in channels:
            if channel["id"].startswith(persons) and channel["id"] not in self.persons:
                log.warning("ari: hanging up orphan warm-transfer channel %s", channel["id"])
                try:
                    await self.ari.hangup(channel["id"])
                except AriError:
                    pass
        mine = f"{LEG_PREFIX}{self.ari.app}-"
        for channel in channels:
            cid = channel["id"]
            if cid.startswith(mine) and cid not in self.legs:
                log.warning("ari: hanging up orphan leg %s", cid)
                try:
                    await self.ari.hangup(cid)
                except AriError:
                    pass
        try:
            bridges = await self.ari.bridges()
        except AriError:
            return
        ours = {call.bridge_id for call in self.calls.values()}
        for bridge in bridges:
            if bridge["id"].startswith(f"{BRIDGE_PREFIX}{self.ari.app}-") and bridge["id"] not in ours:
                log.warning("ari: destroying orphan bridge %s", bridge["id"])
                try:
                    await self.ari.destroy_bridge(bridge["id"])
                except AriError:
                    pass

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        channel = event.get("channel") or {}
        cid = channel.get("id", "")
        person = self.persons.get(cid) or self.persons.get((event.get("playback") or {}).get("id", ""))
        if person is not None:
            self._person_event(person, kind, event)
            return
        if kind == "StasisStart":
            if cid in self.legs:
                self.legs[cid].leg_in_stasis.set()
            elif cid.startswith(f"{LEG_PREFIX}{self.ari.app}-"):
                log.warning("ari: StasisStart for leg %s of no live call: hanging it up", cid)
                try:
                    await self.ari.hangup(cid)
                except AriError:
                    pass
            elif cid.startswith(LEG_PREFIX) or channel.get("name", "").startswith(LEG_NAMES):
                pass  # another app's leg (subscribeAll) or a snoop: not a caller
            elif cid not in self.calls:
                call = self.calls[cid] = StasisCall(self, channel, event.get("args"))
                call.start()
        elif kind in ("ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"):
            if cid in self.calls:
                call = self.calls[cid]
                if kind == "StasisEnd" and call.transferred:
                    call.end("transferred")
                else:
                    call.end("caller hung up" if kind != "StasisEnd" else "caller left Stasis")
            elif cid in self.legs:
                self.legs[cid].end("media leg hung up")
            elif kind == "ChannelDestroyed" and asterisk_call_id(cid):
                # An originated call that never entered Stasis: busy, not answered, unreachable.
                cause = int(event.get("cause") or 0)
                status = ASTERISK_CAUSES.get(cause, "failed")
                reason = f"asterisk: {event.get('cause_txt') or cause}"
                await database_sync_to_async(record_unanswered)(asterisk_call_id(cid), status, reason)
        elif kind == "ChannelDtmfReceived":
            if cid in self.calls:
                self.calls[cid].dtmf(event.get("digit", ""))
        elif kind in ("PlaybackFinished",):
            playback = event.get("playback") or {}
            call = self.playbacks.get(playback.get("id", ""))
            if call is not None:
                call.playback_done.set()
        elif kind == "ApplicationReplaced":
            log.error("ari: another process registered app %r: this one gets no more calls", self.ari.app)

    def _person_event(self, person: WarmTransfer | StasisCall, kind: str, event: dict[str, Any]) -> None:
        if isinstance(person, WarmTransfer):
            person.event(event)
        elif kind in ("ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"):
            person.person_left("the person hung up" if kind != "StasisEnd" else "the person left Stasis")

    async def shutdown(self) -> None:
        for call in list(self.calls.values()):
            call.end("runasterisk stopping")
        tasks = [c.task for c in self.calls.values() if c.task]
        if tasks:
            await asyncio.wait(tasks, timeout=15)
