"""A thin asyncio ARI client on httpx + websockets.

Why not a package: the reference (`shared/reference/asterisk.md` §5) read them all; none keeps the
events of one channel in order, reconnects, and keeps credentials out of URLs. This one:
- REST: one `httpx.AsyncClient` with Basic auth (never `api_key=` in a URL); Asterisk's error body
  `{"message": ...}` becomes a typed `AriError` subclass per status (404, 409, 412, 422, ...).
- Events: one WebSocket `/ari/events?app=NAME` with the Basic auth header; reconnects with capped
  exponential backoff and jitter when Asterisk goes away, and calls `on_connect` after every
  (re)connection so the app can resynchronise (Asterisk queues nothing while we are away).
- Ordering: events are dispatched on one queue per channel id (bridge / playback events on the
  queue of their channel or bridge), each drained by its own task, so a channel's events are
  handled in the order Asterisk sent them while different channels never wait on each other.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


class AriError(Exception):
    """An ARI request answered with an error status; `message` is Asterisk's own text."""

    status = 0

    def __init__(self, status: int, message: str, method: str = "", path: str = "") -> None:
        super().__init__(f"ARI {method} {path}: {status} {message}")
        self.status = status
        self.message = message


class AriBadRequest(AriError):  # 400
    pass


class AriUnauthorized(AriError):  # 401 / 403
    pass


class AriNotFound(AriError):  # 404
    pass


class AriConflict(AriError):  # 409
    pass


class AriInvalidState(AriError):  # 412
    pass


class AriUnprocessable(AriError):  # 422: e.g. "Channel not in Stasis application"
    pass


class AriUnavailable(AriError):  # 5xx, or no answer at all (status 0)
    pass


_ERRORS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    401: AriUnauthorized,
    403: AriUnauthorized,
    404: AriNotFound,
    409: AriConflict,
    412: AriInvalidState,
    422: AriUnprocessable,
}


def redact_url(url: str) -> str:
    """The URL without user:password and without an api_key query (safe to log)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = "&".join(p for p in parts.query.split("&") if p and not p.lower().startswith("api_key="))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def split_ari_url(url: str, username: str = "", password: str = "") -> tuple[str, str, str]:
    """(base URL ending in /ari, username, password): credentials in the URL move to auth."""
    parts = urlsplit(url)
    username = username or (parts.username or "")
    password = password or (parts.password or "")
    base = redact_url(url).rstrip("/")
    if not base.endswith("/ari"):
        base += "/ari"
    return base, username, password


class AriClient:
    """REST calls and the events socket of one Stasis application on one Asterisk."""

    def __init__(
        self,
        url: str,
        username: str = "",
        password: str = "",
        app: str = "contactcenter",
        *,
        timeout: float = 10.0,
        backoff: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        self.base_url, username, password = split_ari_url(url, username, password)
        self.app = app
        self._auth_header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.http = httpx.AsyncClient(
            base_url=self.base_url, auth=(username, password), timeout=timeout, trust_env=False
        )
        self.backoff = backoff
        self.connected = asyncio.Event()
        self.connections = 0  # successful events-socket connections so far
        self._queues: dict[str, asyncio.Queue] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self._handler: EventHandler | None = None
        self._stopping = False
        self._ws = None

    # --- REST ---------------------------------------------------------------------------------
    async def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, json_body: Any = None
    ) -> Any:
        """One ARI call: the decoded JSON (None for 204), or an AriError subclass."""
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            response = await self.http.request(method, path, params=clean, json=json_body)
        except httpx.HTTPError as exc:
            raise AriUnavailable(0, f"{type(exc).__name__}: {exc}", method, path) from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", "")
            except ValueError:
                message = response.text[:200]
            cls = _ERRORS.get(
                response.status_code, AriUnavailable if response.status_code >= 500 else AriError
            )
            raise cls(response.status_code, message, method, path)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def info(self) -> dict:
        return await self.request("GET", "/asterisk/info")

    async def channels(self) -> list[dict]:
        return await self.request("GET", "/channels")

    async def bridges(self) -> list[dict]:
        return await self.request("GET", "/bridges")

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", {"reason": reason})

    async def create_bridge(self, bridge_id: str, name: str = "", kind: str = "mixing") -> dict:
        return await self.request("POST", "/bridges", {"type": kind, "bridgeId": bridge_id, "name": name})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}")

    async def add_channel(self, bridge_id: str, *channel_ids: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", {"channel": ",".join(channel_ids)})

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/removeChannel", {"channel": channel_id})

    async def external_media(self, **params: Any) -> dict:
        """POST /channels/externalMedia (params as Asterisk names them; `app` defaults to ours)."""
        params.setdefault("app", self.app)
        return await self.request("POST", "/channels/externalMedia", params)

    async def play(self, channel_id: str, media: str, playback_id: str = "") -> dict:
        return await self.request(
            "POST", f"/channels/{channel_id}/play", {"media": media, "playbackId": playback_id}
        )

    async def continue_in_dialplan(self, channel_id: str, context: str, extension: str, priority: int = 1):
        await self.request(
            "POST",
            f"/channels/{channel_id}/continue",
            {"context": context, "extension": extension, "priority": priority},
        )

    async def redirect(self, channel_id: str, endpoint: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/redirect", {"endpoint": endpoint})

    async def originate(self, endpoint: str, channel_id: str, app_args: str = "", **params: Any) -> dict:
        return await self.request(
            "POST",
            "/channels",
            {"endpoint": endpoint, "app": self.app, "appArgs": app_args, "channelId": channel_id, **params},
        )

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/variable", {"variable": variable, "value": value})

    # --- events ---------------------------------------------------------------------------------
    @property
    def events_url(self) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        return f"{scheme}{self.base_url[self.base_url.index(':') :]}/events?app={self.app}&subscribeAll=false"

    @property
    def media_base_url(self) -> str:
        """ws(s)://host:port of Asterisk's HTTP server, where chan_websocket serves /media/<id>."""
        root = self.base_url[: -len("/ari")]
        return ("wss" + root[5:]) if root.startswith("https") else ("ws" + root[4:])

    async def run_events(
        self, handler: EventHandler, on_connect: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Hold the events socket until `close()`: reconnect with backoff, dispatch in order."""
        self._handler = handler
        delay = self.backoff[0]
        url = self.events_url
        while not self._stopping:
            try:
                async with websockets.connect(
                    url,
                    additional_headers={"Authorization": self._auth_header},
                    subprotocols=["ari"],
                    open_timeout=5,
                    ping_interval=10,
                    ping_timeout=10,
                    max_size=None,
                ) as ws:
                    self._ws = ws
                    self.connections += 1
                    log.info("ari: events socket up on %s (connection %d)", redact_url(url), self.connections)
                    delay = self.backoff[0]
                    self.connected.set()
                    if on_connect is not None:
                        try:
                            await on_connect()
                        except Exception:
                            log.exception("ari: resync after connect failed")
                    async for message in ws:
                        if isinstance(message, bytes):
                            continue
                        try:
                            event = json.loads(message)
                        except ValueError:
                            log.warning("ari: undecodable event dropped")
                            continue
                        self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - refused, reset, 401, timeouts: all retried
                if self._stopping:
                    break
                log.warning("ari: events socket to %s: %s", redact_url(url), _describe(exc))
            finally:
                self._ws = None
                self.connected.clear()
            if self._stopping:
                break
            sleep = delay * (0.5 + random.random() / 2)
            log.info("ari: reconnecting in %.1f s", sleep)
            await asyncio.sleep(sleep)
            delay = min(delay * 2, self.backoff[1])

    def _key(self, event: dict) -> str:
        if isinstance(event.get("channel"), dict):
            return "channel:" + event["channel"].get("id", "")
        playback = event.get("playback")
        if isinstance(playback, dict):
            return playback.get("target_uri", "") or "playback"
        if isinstance(event.get("bridge"), dict):
            return "bridge:" + event["bridge"].get("id", "")
        return "global"

    def _dispatch(self, event: dict) -> None:
        key = self._key(event)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.create_task(self._drain(key, queue), name=f"ari-{key}")
        queue.put_nowait(event)

    async def _drain(self, key: str, queue: asyncio.Queue) -> None:
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=30)
                except TimeoutError:
                    if queue.empty():
                        return
                    continue
                try:
                    await self._handler(event)
                except Exception:
                    log.exception("ari: handler failed on %s", event.get("type"))
                if event.get("type") in ("ChannelDestroyed", "BridgeDestroyed") and queue.empty():
                    return
        finally:
            if self._queues.get(key) is queue:
                del self._queues[key]
                del self._workers[key]

    @property
    def pending_dispatchers(self) -> int:
        return len(self._workers)

    async def close(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        for task in list(self._workers.values()):
            task.cancel()
        await self.http.aclose()


def _describe(exc: Exception) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status:
        return f"HTTP {status} on upgrade"
    return f"{type(exc).__name__}: {exc}"
