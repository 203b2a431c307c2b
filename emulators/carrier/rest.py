"""The emulator side both carriers share: calls into the app, outcomes, and the REST server plumbing.

A carrier subclass adds its routes (`_routes`), the credentials its HTTP Basic auth checks
(`rest_user`), how a request body reads (`_read_body`: Twilio forms, Plivo JSON) and its error shape.
"""

from __future__ import annotations

import asyncio
import base64

import httpx
from aiohttp import web


class CarrierEmulator:
    def __init__(
        self,
        app_url: str,
        auth_token: str,
        public_url: str,
        jitter_ms: int,
        silence_suppression: bool = False,
    ) -> None:
        self.app_url = app_url.rstrip("/")
        # The address the app is configured with (PUBLIC_BASE_URL): what signatures cover.
        self.public_url = (public_url or app_url).rstrip("/")
        self.auth_token = auth_token
        self.jitter_ms = jitter_ms
        # Callers send no media while silent (DTX, a WebRTC or SIP leg with silence suppression);
        # each call can override it (`place_call(..., silence_suppression=True)`).
        self.silence_suppression = silence_suppression
        self.calls: dict = {}  # carrier call id -> call
        self.rest_requests: list[tuple[str, str, dict]] = []  # (method, path, params) as received
        self.outcomes: dict[str, list[str]] = {}  # dialled number -> outcome per attempt
        self.messages: list[dict] = []  # messages sent through the REST API
        self.http = httpx.AsyncClient(timeout=15, trust_env=False)
        self.rest_url = ""
        self._runner: web.AppRunner | None = None

    @property
    def rest_user(self) -> str:
        """The HTTP Basic user name the REST API accepts (account SID, auth id)."""
        raise NotImplementedError

    def next_outcome(self, number: str) -> str:
        """What the dialled number does on this attempt ("human" once its list is used up)."""
        queue = self.outcomes.get(number)
        return queue.pop(0) if queue else "human"

    def signed_url(self, url: str) -> str:
        """The URL the app will rebuild from its PUBLIC_BASE_URL for a request we send to `url`."""
        if url.startswith(self.app_url):
            return self.public_url + url[len(self.app_url) :]
        return url

    def reach_url(self, url: str) -> str:
        """Where to send what the carrier sends to `url`: the app's own address when `url` is on its public
        one (as a tunnel or proxy would forward it), so a number pointed at https://public/... reaches the
        app under test. The wss:// stream URL maps the same way."""
        public, app = self.public_url, self.app_url
        if public == app:
            return url
        pairs = [(public, app)]
        if public.startswith("http") and app.startswith("http"):
            pairs.append(("ws" + public[4:], "ws" + app[4:]))
        for outside, inside in pairs:
            if url == outside or url.startswith(outside + "/"):
                return inside + url[len(outside) :]
        return url

    def _placed(self, call, silence_suppression: bool | None = None):
        """Keep a new call and start it."""
        if silence_suppression is not None:
            call.silence_suppression = silence_suppression
        self.calls[call.call_id] = call
        call.start()
        return call

    async def close(self) -> None:
        for call in list(self.calls.values()):
            if not call.ended.is_set():
                call.end_by_api()
        await asyncio.gather(*(c.ended.wait() for c in self.calls.values()), return_exceptions=True)
        if self._runner:
            await self._runner.cleanup()
        await self.http.aclose()

    # --- REST -------------------------------------------------------------------------------------
    async def start_rest(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(middlewares=[self._auth])
        self._routes(app.router)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()
        self.rest_url = f"http://{bound[0]}:{bound[1]}"
        return self.rest_url

    def _routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def _authorized(self, request: web.Request) -> bool:
        """HTTP Basic with the emulator's credentials (the account in the path is checked after routing)."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.rest_user and password == self.auth_token

    def _unauthorized(self) -> web.Response:
        raise NotImplementedError

    def _no_route(self, request: web.Request, status: int) -> web.Response:
        """The carrier's own answer to a path it does not serve (404) or a method it does not allow (405)."""
        raise NotImplementedError

    async def _read_body(self, request: web.Request) -> dict | web.Response:
        """The request's parameters as logged in `rest_requests`, or the error response."""
        raise NotImplementedError

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        # Credentials first (wrong ones are 401 anywhere), then routing: aiohttp runs middlewares even
        # when no route matched, and such a request has no account in its path.
        if not self._authorized(request):
            return self._unauthorized()
        missing = request.match_info.http_exception
        if missing is not None:
            return self._no_route(request, missing.status)
        if request.match_info.get("account") != self.rest_user:
            return self._unauthorized()
        body = await self._read_body(request)
        if isinstance(body, web.Response):
            return body
        self.rest_requests.append((request.method, request.path, body))
        return await handler(request)
