"""The Gemini Live session of one call, kept alive across goAway and dropped sockets.

Recipe from `reference/peers.md` §3: ask for session resumption, keep every new handle; on
`goAway` or a close, close the old socket first, resume with backoff (0.5 → 4 s) within a 30 s
budget while caller audio waits in the uplink's bounded queue, and fall back to a fresh session
(without a second greeting) when resumption is refused.

Nothing said is lost across a reconnect (issue 14):
- On `goAway` the old connection is kept until the next pause in the conversation (the agent's turn
  complete, its audio played, the caller quiet), or until the time left is nearly used
  (`GOAWAY_MARGIN_S` before the close), whichever comes first. Deadlines are checked on a timer.
- Every client message on a connection is numbered; the caller-audio batches sent are kept (the
  same bytes objects the uplink made, no copy) in a ring of the last `RESEND_WINDOW_S`. A
  `sessionResumptionUpdate` with `lastConsumedClientMessageIndex` drops what the service consumed;
  after a resumed setup the rest is resent, before any new audio, so an utterance that straddles a
  reconnect reaches the new connection whole. The SDK docstring says the index is "only sent when
  `SessionResumptionConfig.transparent` is set", which the Developer API refuses (reference §3, §6.3):
  when a connection never reports it, a `turnComplete` counts everything sent before it as consumed
  (the model answered what it heard), so at most the audio since the last turn is resent.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from google.genai import errors, types
from websockets.exceptions import ConnectionClosed

from .model_audio import AudioTap
from .usage import UsageMeter
from .wire import MIME, AudioMessages

log = logging.getLogger(__name__)

RECONNECT_BUDGET_S = 30.0
BACKOFF = (0.5, 1.0, 2.0, 4.0)
GOAWAY_MARGIN_S = 1.0  # after a goAway, leave at the latest this long before the announced close
PAUSE_POLL_S = 0.05  # after a goAway, how often to look for a pause (a timer only for those seconds)
RESEND_WINDOW_S = 10.0  # caller audio kept for a resend: sent batches not yet consumed, at most this much
_DURATION = re.compile(r"^\s*([0-9.]+)s\s*$")


def seconds_of(duration: str | None) -> float:
    """A protobuf Duration in its JSON form ("50s", "1.500s") in seconds; 0 when absent or odd."""
    match = _DURATION.match(duration or "")
    return float(match.group(1)) if match else 0.0


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
        at_pause: Callable[[], bool] | None = None,
        batch_ms: int = 40,
        mime: str = MIME,
        on_audio: Callable[[bytes], None] | None = None,
    ) -> None:
        self._client = client
        self._mime = mime  # caller audio's declared rate (the uplink's)
        self._model = model
        self._config_for = config_for
        self._on_message = on_message
        # The model's audio-only messages, taken off the socket before the SDK parses them
        # (engine.model_audio); every other message, and all of them without it, go to on_message.
        self._on_audio = on_audio
        self._on_reconnect = on_reconnect  # called with resumed=True/False after a reconnect
        self._at_pause = at_pause or (lambda: True)  # a pause in the conversation: leave now on goAway
        # Client messages on the current connection. The service's index counts every client
        # message of a connection; we number the setup 0 and the first message after it 1 (the
        # reference does not say; the emulator counts the same way, docs/gemini-emulator.md).
        self._sent = 0
        self._index_reported = False  # this connection reported lastConsumedClientMessageIndex
        self._unconsumed: deque[tuple[int, bytes]] = deque(
            maxlen=max(1, int(RESEND_WINDOW_S * 1000 / batch_ms))
        )
        self._leave = asyncio.Event()  # set when a goAway'd connection should be left now
        self._watch: asyncio.Task | None = None
        self.resent_batches = 0
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
        self._audio = await AudioMessages.for_session(session, self._mime)
        if self._on_audio is not None:
            await AudioTap.install(session, self._on_audio)
        self._sent, self._index_reported = 0, False

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
                self.connected.set()
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
                    self._unconsumed.clear()  # a fresh session has no context for half an utterance
                else:
                    await self._resend()
                self.connected.set()
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

    async def _resend(self) -> None:
        """Send the old connection's unconsumed caller audio on the new one, oldest first."""
        pending = [pcm for _, pcm in self._unconsumed]
        self._unconsumed.clear()
        for i, pcm in enumerate(pending):
            try:
                await self._send_audio_on(self._session, pcm)
            except BaseException:
                # This connection failed too: keep the rest, the next one resends them all.
                self._unconsumed.extend((0, rest) for rest in pending[i:])
                raise
            await asyncio.sleep(0)  # one batch per loop turn: other calls' frames go on
        if pending:
            self.resent_batches += len(pending)
            log.info("resent %d unconsumed caller audio batch(es) after resuming", len(pending))

    # --- receiving ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Receive until closed, reconnecting as needed; raises GeminiUnavailable when it gives up."""
        while not self._closing:
            self._leave.clear()
            receiver = asyncio.create_task(self._receive(self._session), name="gemini-receive-one")
            leave = asyncio.create_task(self._leave.wait())
            try:
                done, _ = await asyncio.wait({receiver, leave}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                leave.cancel()
                if self._watch is not None:
                    self._watch.cancel()
                    self._watch = None
                if not receiver.done():
                    receiver.cancel()
                    try:
                        await receiver
                    except BaseException:  # noqa: BLE001 - cancelled, or the socket failed meanwhile
                        pass
            if receiver in done and not receiver.cancelled() and receiver.exception() is not None:
                exc = receiver.exception()
                if self._closing:
                    return
                if not isinstance(exc, errors.APIError | ConnectionClosed | OSError):
                    raise exc
                log.warning("Gemini connection lost: %s", exc)
            if self._closing:
                return
            await self._reconnect()

    async def _receive(self, session: Any) -> None:
        while not self._closing:
            async for message in session.receive():
                self._note(message)
                if message.go_away is not None:
                    self._go_away(message.go_away.time_left)
                    continue
                await self._on_message(message)

    def _go_away(self, time_left: str | None) -> None:
        """Keep the connection until the next pause, or until the time left is nearly used."""
        if self._watch is not None:
            return
        left = seconds_of(time_left)
        log.info("Gemini goAway (time left %s): reconnecting at the next pause", time_left)
        loop = asyncio.get_running_loop()
        self._watch = asyncio.create_task(self._leave_at_pause(loop.time() + left - GOAWAY_MARGIN_S))

    async def _leave_at_pause(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._at_pause():
                log.info("reconnecting at a pause in the conversation")
                break
            if loop.time() >= deadline:
                log.info("reconnecting before the connection's time runs out (no pause came)")
                break
            await asyncio.sleep(PAUSE_POLL_S)
        self._leave.set()

    def _note(self, message: types.LiveServerMessage) -> None:
        update = message.session_resumption_update
        if update is not None and update.resumable and update.new_handle:
            self.handle = update.new_handle
        if update is not None and update.last_consumed_client_message_index is not None:
            self._index_reported = True
            consumed = update.last_consumed_client_message_index
            while self._unconsumed and self._unconsumed[0][0] <= consumed:
                self._unconsumed.popleft()
        content = message.server_content
        if content is not None and content.turn_complete and not self._index_reported:
            self._unconsumed.clear()  # no index from this service: the model answered what it heard
        self.meter.note(message.usage_metadata)

    # --- sending ------------------------------------------------------------------------------
    async def send_audio(self, pcm: bytes) -> None:
        session = self._session
        if session is None or not self.connected.is_set():
            raise ConnectionError("Gemini is reconnecting")
        await self._send_audio_on(session, pcm)

    def send_audio_now(self, pcm: bytes) -> bool:
        """Send a batch without awaiting, on a plainly open connection (`engine.wire.send_now`); False
        where `send_audio` must send it (reconnecting, the SDK's own method, a connection not plain)."""
        session, audio = self._session, self._audio
        if session is None or audio is None or audio.session is not session or not self.connected.is_set():
            return False
        if not audio.send_now(pcm):
            return False
        self._sent += 1
        self._unconsumed.append((self._sent, pcm))
        return True

    async def _send_audio_on(self, session: Any, pcm: bytes) -> None:
        self._sent += 1
        entry = (self._sent, pcm)
        self._unconsumed.append(entry)
        try:
            audio = self._audio
            if audio is not None and audio.session is session:
                await audio.send(pcm)  # engine.wire: the SDK's text without its models
            else:
                await session.send_realtime_input(audio=types.Blob(data=pcm, mime_type=self._mime))
        except BaseException:
            # Not sent (or unknown): the uplink queues it again, so it must not be resent twice.
            if self._unconsumed and self._unconsumed[-1] is entry:
                self._unconsumed.pop()
            raise

    async def send_text(self, text: str) -> None:
        await self.connected.wait()
        self._sent += 1
        await self._session.send_realtime_input(text=text)

    async def send_context_update(self, system_instruction: str) -> None:
        """Replace the system instruction mid-session (a supervisor's whisper; 3.x models)."""
        await self.connected.wait()
        self._sent += 1
        await self._session.send_context_update(system_instruction=system_instruction)

    async def send_tool_response(self, responses: list[types.FunctionResponse]) -> None:
        await self.connected.wait()
        self._sent += 1
        await self._session.send_tool_response(function_responses=responses)
