"""The Gemini Live session of one call, kept alive across goAway and dropped sockets.

Recipe from `reference/peers.md` §3: ask for session resumption, keep every new handle; on
`goAway` or a close, close the old socket first, resume with backoff (0.5 → 4 s) within a 30 s
budget while caller audio waits in the uplink's bounded queue, and fall back to a fresh session
(without a second greeting) when resumption is refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from google.genai import errors, types
from websockets.exceptions import ConnectionClosed

from .usage import UsageMeter
from .wire import AudioMessages

log = logging.getLogger(__name__)

RECONNECT_BUDGET_S = 30.0
BACKOFF = (0.5, 1.0, 2.0, 4.0)


class GeminiUnavailable(RuntimeError):
    """Gemini could not be reached (at call start) or came back too late (mid-call)."""


class LiveLink:
    def __init__(
        self,
        client: Any,
        model: str,
        config_for: Callable[[str | None], types.LiveConnectConfig],
        on_message: Callable[[types.LiveServerMessage], Awaitable[None]],
        on_reconnect: Callable[[bool], None] | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._config_for = config_for
        self._on_message = on_message
        self._on_reconnect = on_reconnect  # called with resumed=True/False after a reconnect
        self._cm: Any = None
        self._session: Any = None
        self._audio: AudioMessages | None = None
        self._closing = False
        self.handle: str | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.meter = UsageMeter()  # usageMetadata: last snapshot per connection, summed across them

    @property
    def usage(self) -> dict:
        """Tokens this call used, over all its connections (`engine.usage`)."""
        return self.meter.totals()

    # --- connection ---------------------------------------------------------------------------
    async def _connect(self, handle: str | None) -> None:
        self.meter.new_connection()
        cm = self._client.aio.live.connect(model=self._model, config=self._config_for(handle))
        session = await asyncio.wait_for(cm.__aenter__(), timeout=10)
        self._cm, self._session = cm, session
        self._audio = await AudioMessages.for_session(session)
        self.connected.set()

    async def _disconnect(self) -> None:
        self.connected.clear()
        cm, self._cm, self._session, self._audio = self._cm, None, None, None
        if cm is not None:
            try:
                await asyncio.wait_for(cm.__aexit__(None, None, None), timeout=2)
            except Exception:  # noqa: BLE001 - the socket may already be gone
                pass

    async def open(self) -> None:
        """First connection, with two quick retries; GeminiUnavailable if it cannot be had."""
        last: Exception | None = None
        for delay in (0.0, 0.5, 1.0):
            await asyncio.sleep(delay)
            try:
                await self._connect(None)
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "cannot reach Gemini"
                last = exc
                log.warning("connecting to Gemini failed: %s", exc)
        raise GeminiUnavailable(str(last))

    async def close(self) -> None:
        self._closing = True
        await self._disconnect()

    async def _reconnect(self) -> None:
        await self._disconnect()  # close the old socket first: a resume while it is open is refused
        self.reconnects += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECONNECT_BUDGET_S
        attempt = 0
        while not self._closing and loop.time() < deadline:
            handle = self.handle if attempt < 3 else None
            try:
                await self._connect(handle)
                if handle is None:
                    self.handle = None
                log.info(
                    "Gemini session %s after %d attempt(s)", "resumed" if handle else "restarted", attempt + 1
                )
                if self._on_reconnect:
                    self._on_reconnect(handle is not None)
                return
            except Exception as exc:  # noqa: BLE001
                log.warning("reconnecting to Gemini failed (attempt %d): %s", attempt + 1, exc)
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1
        if not self._closing:
            raise GeminiUnavailable(f"Gemini did not come back within {RECONNECT_BUDGET_S:.0f} s")

    # --- receiving ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Receive until closed, reconnecting as needed; raises GeminiUnavailable when it gives up."""
        while not self._closing:
            session = self._session
            go_away = False
            try:
                while not go_away and not self._closing:
                    async for message in session.receive():
                        self._note(message)
                        if message.go_away is not None:
                            log.info(
                                "Gemini goAway (time left %s): reconnecting now", message.go_away.time_left
                            )
                            go_away = True
                            break
                        await self._on_message(message)
            except (errors.APIError, ConnectionClosed, OSError) as exc:
                if self._closing:
                    return
                log.warning("Gemini connection lost: %s", exc)
            if self._closing:
                return
            await self._reconnect()

    def _note(self, message: types.LiveServerMessage) -> None:
        update = message.session_resumption_update
        if update is not None and update.resumable and update.new_handle:
            self.handle = update.new_handle
        self.meter.note(message.usage_metadata)

    # --- sending ------------------------------------------------------------------------------
    async def send_audio(self, pcm16k: bytes) -> None:
        audio = self._audio
        if audio is None:
            raise ConnectionError("Gemini is reconnecting")
        await audio.send(pcm16k)

    async def send_text(self, text: str) -> None:
        await self.connected.wait()
        await self._session.send_realtime_input(text=text)

    async def send_context_update(self, system_instruction: str) -> None:
        """Replace the system instruction mid-session (a supervisor's whisper; 3.x models)."""
        await self.connected.wait()
        await self._session.send_context_update(system_instruction=system_instruction)

    async def send_tool_response(self, responses: list[types.FunctionResponse]) -> None:
        await self.connected.wait()
        await self._session.send_tool_response(function_responses=responses)
