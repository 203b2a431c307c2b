"""One call's lifecycle: route, open Gemini, greet, converse, end, hand the records to Celery."""

from __future__ import annotations

import asyncio
import logging
import uuid
from functools import partial
from typing import Any

from django.conf import settings
from django.utils import timezone
from google.genai import types

from agents import gemini_catalog as catalog
from agents.gemini_client import get_client
from calls import readiness
from calls.jobs import enqueue
from contactcenter.logging import call_context
from engine.prompts import prompt_pcm

from . import builtins, presence, progress, store, supervision, transfer
from .live import GeminiUnavailable, LiveLink
from .metrics import CallMetrics
from .playout import Playout
from .port import CallRequest, MediaPort
from .record import Recorder, Transcript
from .recording import RecordingStream
from .setup import fetch_call_config, live_config, render, say_exactly, system_instruction
from .tools import ToolDispatcher, ToolError
from .uplink import Uplink

log = logging.getLogger(__name__)

MAX_DURATION_GOODBYE = "We have reached the time limit for this call. Thank you for calling, goodbye."
DRAINING_REFUSAL = "server shutting down (draining)"
END_CALL_GRACE_S = 8.0  # after end_call, hang up even if the model says nothing more
CALLER_PAUSE_S = 0.5  # caller quiet this long: not mid-utterance
REPLY_WAIT_S = 3.0  # after the caller spoke, the model's answer may take this long to start: no pause yet
# After a reconnect cut the agent's reply, the resumed session is asked to pick it up (as the greeting
# is asked for: realtime text). The model has the cut reply in its history; it does not resume on its own.
CONTINUE_CUT_REPLY = (
    "The line dropped while you were speaking. Continue your reply from where you stopped, "
    "without starting over and without greeting the caller again."
)
SECURE_ENTRY_MAX_DIGITS = 32  # secure entry ends at # or after this many digits (or SECURE_ENTRY_SECONDS)
METRICS_EVERY_TICKS = 5  # a metrics snapshot at least every fifth saver tick (10 s by default)

_live: set[CallHandle] = set()


def active_calls() -> int:
    """Calls this process is handling right now."""
    return len(_live)


def live_calls() -> list[CallHandle]:
    """The calls this process is handling right now (a copy: drain ends them while iterating)."""
    return list(_live)


class CallHandle:
    """What a transport holds for one call. Every method is safe to call from the transport's loop."""

    def __init__(self, request: CallRequest, port: MediaPort) -> None:
        self.request = request
        self.port = port
        self.call_id: uuid.UUID | None = None
        self.accepted = False
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._answered_at = timezone.now()
        self.transcript = Transcript()
        self.metrics = CallMetrics()
        self.recorder = Recorder(port.wire.rate, enabled=False)
        self._recording: RecordingStream | None = None  # once the agent says whether to record
        self.playout = Playout(port, on_frame=self._agent_frame)
        self.uplink = Uplink(
            port.wire,
            settings.GEMINI_INPUT_BATCH_MS,
            self._caller_pcm,
            rate=settings.GEMINI_INPUT_RATE,
            speech_batch_ms=settings.GEMINI_SPEECH_BATCH_MS,
        )
        self._ended = asyncio.Event()
        self._end_reason = ""
        self._remote = False
        self._hangup_after_turn: str | None = None
        self._disclosure = ""  # the AI disclosure line of this call, once rendered
        self._guidance: list[str] = []  # supervisors' whispers, part of the system instruction from then on
        self._variables: dict = {}
        self._awaiting_first_audio = True
        self._agent_quiet = asyncio.Event()  # set between the agent's turns
        self._agent_quiet.set()
        self._generating = False  # the agent's reply is arriving (first audio seen, generation not complete)
        self._turn_done_at = 0.0  # loop time the agent's last turn ended (complete or interrupted)
        self._last_voice_answered: float | None = None
        self._link: LiveLink | None = None
        self._tools: ToolDispatcher | None = None
        self._task: asyncio.Task | None = None
        self._aux: list[asyncio.Task] = []
        self._status = "completed"
        self._prepared: store.Prepared | None = None
        self._transport_dropped = 0
        self._secure_digits: list[str] | None = None  # digits keyed during secure entry (None: closed)
        self._secure_done = asyncio.Event()
        # Warm transfer (engine/transfer.py): hold audio while the person is dialled, the line dropping
        # meanwhile (the transport bridged the caller, or they hung up), and the record of the last one.
        self.hold: transfer.Hold | None = None
        self.line_gone = asyncio.Event()
        self._line_gone: tuple[str, bool] = ("caller hung up", False)
        self.handoff: transfer.Handoff | None = None
        self._model_muted = False  # on hold, or handed off: the model's audio goes nowhere
        self.tap = None  # a listeners.Mix while supervisors listen in: the frame hooks test only this
        # A supervisor who took over: (loop time their latest utterance began, last time they spoke).
        self.human_voice: tuple[float, float] | None = None

    # --- transport-facing ---------------------------------------------------------------------
    def push_audio(self, payload: bytes) -> None:
        if not self._ended.is_set():
            self.uplink.push(payload)

    def push_dtmf(self, digit: str) -> None:
        """A keypad digit: noted in the transcript and told to the model as the caller's input, except
        during secure entry, when it goes only to the tool that asked (`_secure_entry`)."""
        if self._ended.is_set() or not digit:
            return
        if self._secure_digits is not None:
            if digit == "#" or len(self._secure_digits) >= SECURE_ENTRY_MAX_DIGITS:
                self._secure_done.set()
            else:
                self._secure_digits.append(digit)
            return
        self.transcript.note("system", f"Caller pressed {digit}", self._ms())
        if self._link is not None:
            self._spawn(self._link.send_text(f"The caller pressed the key {digit} on the phone keypad."))

    async def _secure_entry(self, tool) -> str:
        """Collect the digits the caller keys for `tool` (ending with #, or after
        SECURE_ENTRY_SECONDS): meanwhile Gemini and the recording hear silence from the line, and the
        digits reach neither the model nor the transcript, which notes only how many there were."""
        self._secure_digits, self._secure_done = [], asyncio.Event()
        self.uplink.secure = True
        self.transcript.note("system", f"Secure entry for {tool.name}: the caller keys digits", self._ms())
        try:
            await asyncio.wait_for(self._secure_done.wait(), settings.SECURE_ENTRY_SECONDS)
        except TimeoutError:
            pass
        finally:
            self.uplink.secure = False
            digits, self._secure_digits = "".join(self._secure_digits or ()), None
        self.transcript.note(
            "system", f"Secure entry closed: {len(digits)} digits to {tool.name}", self._ms()
        )
        return digits

    def mark_played(self, name: str) -> None:
        self.playout.mark_played(name)

    async def whisper(self, text: str, by: str = "") -> None:
        """A supervisor's guidance: added to the system instruction (never spoken), from the agent's
        next turn on, and kept on the transcript as a supervisor line."""
        text = " ".join(text.split())
        if not text or self._ended.is_set() or self._link is None:
            return
        model = catalog.get(self.agent.model)
        if model is None or not model.context_update:
            log.warning("whisper from %s not delivered: %s takes no guidance mid-call", by, self.agent.model)
            self.transcript.note(
                "system", f"Whisper from {by or 'a supervisor'} not delivered: {self.agent.model} takes no "
                "guidance during a call", self._ms(),
            )  # fmt: skip
            return
        self._guidance.append(text)
        self.transcript.note("supervisor", f"{by or 'Supervisor'}: {text}", self._ms())
        log.info("supervisor %s whispered to the agent", by)
        await self._link.send_context_update(system_instruction(self.agent, self._variables, self._guidance))

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def generating(self) -> bool:
        """The model's reply is arriving."""
        return self._generating

    @property
    def link(self) -> LiveLink | None:
        return self._link

    def elapsed_ms(self) -> int:
        """Milliseconds since the call started (the transcript's clock)."""
        return self._ms()

    def remote_hangup(self, reason: str = "caller hung up", *, failed: bool = False) -> None:
        """The line is gone (or unusable): end without hanging up on the carrier. `failed` stores the
        call as failed (a transport fault) rather than completed (a normal hang-up)."""
        if not self._ended.is_set() and self.hold is not None:
            # Mid warm transfer: bridging the caller to the person ends this media leg, perhaps before
            # the transport reports the acceptance; the transfer decides how the call ended.
            self._line_gone = (reason, failed)
            self._remote = True
            self.line_gone.set()
            return
        if not self._ended.is_set():
            self._remote = True
            if failed:
                self._status = "failed"
            self._end(reason)

    def count_dropped(self, frames: int = 1) -> None:
        """Caller frames the transport refused (oversized, over its rate cap): in `frames_dropped`."""
        self._transport_dropped += frames

    # --- warm transfer (engine/transfer.py) ------------------------------------------------------
    async def begin_hold(self, note: str) -> None:
        """The caller goes on hold: the model's audio stops, hold audio plays, the model hears silence."""
        self.transcript.note("system", note, self._ms())
        self.uplink.held = True
        self._model_muted = True
        self.hold = transfer.Hold(self.playout, self.port.wire.rate)
        await self.playout.flush()
        self.hold.start()

    async def end_hold(self, flush: bool = True) -> None:
        """Off hold: the hold audio stops; with `flush` (the agent is back with the caller) what is queued
        of it is dropped and the model hears and speaks on the line again."""
        hold, self.hold = self.hold, None
        self.uplink.held = False
        self._model_muted = not flush
        if hold is not None:
            await hold.stop(flush)

    def hand_off(self, reason: str, note: str) -> None:
        """The caller is with a person now: end this side without hanging up on them."""
        self.transcript.note("system", note, self._ms())
        self._remote = True
        self._end(reason)

    def line_dropped(self) -> None:
        """The line went during a transfer that was not accepted: end as the transport reported it."""
        reason, failed = self._line_gone
        self.remote_hangup(reason, failed=failed)

    async def wait(self) -> None:
        if self._task:
            await asyncio.shield(self._task)

    # --- internals ----------------------------------------------------------------------------
    def _ms(self) -> int:
        return int((self._loop.time() - self._t0) * 1000)

    def _utterance_ms(self) -> int | None:
        """When the caller's latest utterance began, on the call clock (None: no voice heard yet)."""
        started = self.uplink.utterance_started_at
        return None if started is None else max(0, int((started - self._t0) * 1000))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._aux.append(task)

    def _end(self, reason: str) -> None:
        if not self._ended.is_set():
            self._end_reason = reason
            self._ended.set()
            self.uplink.stop_feeding()

    def _caller_pcm(self, pcm: bytes) -> None:
        self.recorder.add("caller", pcm, self._loop.time() - self._t0)
        if self.tap is not None:
            self.tap.caller(pcm)

    def _agent_frame(self, pcm: bytes, at: float) -> None:
        self.recorder.add("agent", pcm, at - self._t0)
        if self.tap is not None:
            self.tap.agent(pcm)

    async def _prepare(self) -> None:
        self._prepared = await store.prepare(self.request)
        self.call_id = self._prepared.call_id
        self._answered_at = self._prepared.answered_at or self._answered_at
        cap = settings.MAX_CONCURRENT_CALLS
        if not self._prepared.refusal and readiness.draining():
            log.warning("this process is draining (shutting down): refusing a new call")
            self._prepared.refusal, self._prepared.prompt = "busy", "busy"
            await store.mark_failed(self.call_id, DRAINING_REFUSAL)
        elif not self._prepared.refusal and cap and len(_live) >= cap:
            log.warning("system cap of %d simultaneous calls reached: refusing", cap)
            self._prepared.refusal, self._prepared.prompt = "busy", "busy"
            await store.mark_failed(self.call_id, "system at its concurrent-call cap")
        self.accepted = not self._prepared.refusal
        if self.accepted:
            _live.add(self)

    async def _refuse(self, prompt: str, reason: str) -> None:
        self.playout.add_pcm(prompt_pcm(prompt, self.port.wire.rate))
        await self.playout.drain()
        await self.playout.stop()
        await self._safe_hangup(reason)

    async def _safe_hangup(self, reason: str) -> None:
        try:
            await self.port.hangup(reason)
        except Exception:  # noqa: BLE001 - the carrier leg may already be gone
            log.debug("hangup on the carrier failed", exc_info=True)

    async def _run(self) -> None:
        with call_context(str(self.call_id)):
            self.playout.start()
            if not self.accepted:
                log.info("call refused (%s)", self._prepared.refusal)
                await self._refuse(self._prepared.prompt, self._prepared.refusal)
                return
            try:
                await self._converse()
            except Exception:
                log.exception("call failed")
                self._status, self._end_reason = "failed", self._end_reason or "internal error"
            finally:
                _live.discard(self)
                await self._finish()

    async def _converse(self) -> None:
        agent = self._prepared.agent
        request = self.request
        variables: dict[str, Any] = {
            "caller_number": request.from_number,
            "dialled_number": request.to_number or request.extension,
            "call_id": str(self.call_id),
            "carrier": request.carrier,
            **request.variables,
        }
        agent, _ = await fetch_call_config(
            agent,
            {
                "call_id": str(self.call_id),
                "carrier": request.carrier,
                "from": request.from_number,
                "to": request.to_number or request.extension,
                "direction": request.direction,
                "agent": agent.name,
            },
        )
        # Outbound: a campaign greeting, or the voicemail message then hang up when a machine answered.
        agent, self._hangup_after_turn = builtins.opening_for(agent, variables)
        self.agent = agent
        self.uplink.end_of_turn_silence(agent.silence_duration_ms)
        self._variables = variables
        self.recorder.enabled = agent.record_calls
        if agent.record_calls:
            self._recording = RecordingStream(self.recorder, self.call_id, self._answered_at)
        self._tools = ToolDispatcher(
            agent.tools,
            {
                "end_call": self._tool_end_call,
                "transfer_call": self._tool_transfer,
                "warm_transfer": partial(transfer.warm_transfer, self),
                **{kind: partial(handler, self) for kind, handler in builtins.registered().items()},
            },
            {"call_id": str(self.call_id), **variables},
            on_done=self._store_invocation,
            collect_digits=self._secure_entry,
        )
        try:
            self._link = LiveLink(
                get_client(),
                agent.model,
                lambda handle: live_config(agent, variables, handle, self._guidance),
                self._on_message,
                self._on_reconnect,
                self._at_pause,
                self.uplink.shortest_ms,  # sizes the resend window (in messages)
                mime=self.uplink.mime,
                on_audio=self._on_model_audio,
            )
            await self._link.open()
        except Exception as exc:  # noqa: BLE001 - GeminiUnavailable or a configuration error
            log.error("Gemini is unavailable, refusing the call politely: %s", exc)
            self._status, self._end_reason = "failed", "Gemini unavailable"
            self.playout.add_pcm(prompt_pcm("busy", self.port.wire.rate))
            await self.playout.drain()
            return
        receiver = asyncio.create_task(self._link.run(), name="gemini-receive")
        sender = asyncio.create_task(
            self.uplink.run(self._link.send_audio, self._link.connected, self._link.send_audio_now),
            name="uplink",
        )
        if not self._ended.is_set():
            # Silent lines (DTX, silence suppression): comfort silence keeps turn detection fed.
            self.uplink.keep_fed(self._link.connected)
        timer = asyncio.create_task(self._max_duration(agent.max_call_seconds), name="max-duration")
        saver = asyncio.create_task(self._save_as_we_go(), name="saver")
        supervised = asyncio.create_task(supervision.listen(self), name="supervision")
        self._aux += [sender, timer, saver, supervised]
        self._disclosure = render(agent.ai_disclosure, variables).strip() if agent.ai_disclosure else ""
        opening = " ".join(
            render(t, variables).strip()
            for t in (agent.ai_disclosure, agent.consent_announcement, agent.greeting)
            if t
        )
        if self._disclosure:
            # Not skippable: Gemini hears silence instead of the caller until the opening turn ends,
            # so talking over it cannot interrupt it (the recording still has the caller).
            self.uplink.masked = True
        if opening:
            await self._link.send_text(say_exactly(opening))
        ended = asyncio.create_task(self._ended.wait())
        done, _ = await asyncio.wait({receiver, ended}, return_when=asyncio.FIRST_COMPLETED)
        if receiver in done:
            exc = receiver.exception()
            if isinstance(exc, GeminiUnavailable):
                log.error("lost Gemini for good: %s", exc)
                self._status = "failed"
                self._end("Gemini connection lost")
            elif exc is not None:
                raise exc
        else:
            receiver.cancel()
        ended.cancel()

    async def _save_as_we_go(self) -> None:
        """Every TRANSCRIPT_SAVE_SECONDS (never per frame): queue the recording's next chunk for the
        writer thread, and hand the segments closed since the last pass, with a metrics snapshot, to
        Celery (the metrics alone every METRICS_EVERY_TICKS), in one job with the process's other calls
        (`engine.progress`). A crash then loses at most the last few seconds, and the live dashboard
        can read them."""
        saved = 0
        tick = 0
        while True:
            await asyncio.sleep(progress.next_pass(settings.TRANSCRIPT_SAVE_SECONDS))
            tick += 1
            if self._recording is not None:
                self._recording.flush(self._loop.time() - self._t0)
            segments = self.transcript.segments
            if len(segments) > saved or tick % METRICS_EVERY_TICKS == 0:
                batch, saved = segments[saved:], len(segments)
                try:
                    await progress.save(str(self.call_id), batch, self._metrics())
                except Exception:  # noqa: BLE001 - the end of the call stores them all again
                    log.warning("saving %d transcript segment(s) during the call failed", len(batch))

    def _metrics(self) -> dict:
        return self.metrics.payload(
            self.uplink.frames_in, self.playout.frames_out, self.uplink.dropped + self._transport_dropped
        )

    def _store_invocation(self, invocation: dict) -> None:
        """A tool call finished: store its ToolInvocation now (idempotent on its seq), so a crash keeps it."""
        from calls.tasks import store_tool_invocations

        async def store() -> None:
            try:
                await enqueue(store_tool_invocations, str(self.call_id), [invocation])
            except Exception:  # noqa: BLE001 - the end of the call stores every invocation again
                log.warning("saving a tool invocation during the call failed")

        self._spawn(store())

    async def _max_duration(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        log.info("max call duration (%d s) reached: saying goodbye", seconds)
        await self.say_goodbye(MAX_DURATION_GOODBYE, "max call duration reached")

    async def say_goodbye(self, text: str, reason: str, grace: float = END_CALL_GRACE_S + 10) -> None:
        """Have the agent say `text`, then end the call after that turn (or after `grace` seconds)."""
        if self._ended.is_set():
            return
        # A reply in progress ends first: the hang-up must follow the goodbye's own turn, not that one.
        try:
            await asyncio.wait_for(self._agent_quiet.wait(), grace / 2)
        except TimeoutError:
            pass
        self._hangup_after_turn = reason
        if self._link is not None:
            try:
                await self._link.send_text(say_exactly(text))
            except Exception:  # noqa: BLE001 - no Gemini: end without the goodbye
                log.warning("could not ask the agent to say goodbye (%s)", reason)
                grace = 0
        await asyncio.sleep(grace)
        self._end(reason)

    def end_now(self, reason: str) -> None:
        """End the call at once (the goodbye, if any, is over or there is no time for one)."""
        self._end(reason)

    def _at_pause(self) -> bool:
        """A pause in the conversation (for a goAway reconnect): the agent's turn is complete and
        played out, and the caller is not speaking."""
        if not self._agent_quiet.is_set() or self.playout.buffered_ms > 2 * self.port.wire.frame_ms:
            return False
        voice = self.uplink.last_voice_at
        if voice is None:
            return True
        quiet_for = self._loop.time() - voice
        if voice > self._turn_done_at and quiet_for < REPLY_WAIT_S:
            return False  # the caller spoke since the agent's last turn: its answer is probably coming
        return quiet_for > CALLER_PAUSE_S

    def _on_reconnect(self, resumed: bool) -> None:
        self.metrics.reconnects += 1
        cut = self._generating
        if cut or not self._agent_quiet.is_set():
            # The cut turn's turnComplete will never come: its state ends here.
            self._generating = False
            self._awaiting_first_audio = True
            self._agent_quiet.set()
            self.playout.end_of_generation()
            self.transcript.close("agent", self._ms())
        if not resumed:
            self.uplink.clear_backlog()
        elif cut and self._link is not None and not self._ended.is_set():
            log.info("a reconnect cut the agent's reply: asking the resumed session to continue it")
            self._spawn(self._link.send_text(CONTINUE_CUT_REPLY))

    async def _on_message(self, message: types.LiveServerMessage) -> None:
        now = self._loop.time()
        if message.tool_call and message.tool_call.function_calls:
            for fc in message.tool_call.function_calls:
                self.metrics.tool_calls += 1
                if self.playout.muted:  # a supervisor has the call: the model does nothing on it
                    self._spawn(self._responder(fc)(supervision.TOOLS_WHILE_TAKEN_OVER))
                    continue
                self._tools.submit(fc.id or "", fc.name or "", dict(fc.args or {}), self._responder(fc))
        if message.tool_call_cancellation and message.tool_call_cancellation.ids:
            self._tools.cancel(list(message.tool_call_cancellation.ids))
        content = message.server_content
        if content is None:
            return
        if content.interrupted:
            self.metrics.barge_ins += 1
            await self.playout.flush()
            self.transcript.close("agent", self._ms())
            self._awaiting_first_audio = True
            self._generating = False
            self._turn_done_at = now
            self._agent_quiet.set()
        if content.input_transcription and content.input_transcription.text:
            # The caller's words, or those of a supervisor who took over (Gemini hears both).
            speaker, started = supervision.input_turn(self, self._utterance_ms())
            self.transcript.add(speaker, content.input_transcription.text, self._ms(), started_ms=started)
        if (
            content.output_transcription
            and content.output_transcription.text
            and not (self._model_muted or self.playout.muted)
        ):
            self.transcript.add("agent", content.output_transcription.text, self._ms())
        if content.model_turn and content.model_turn.parts:
            for part in content.model_turn.parts:
                if part.inline_data and part.inline_data.data:
                    self._on_model_audio(part.inline_data.data)
        if content.generation_complete:
            self._generating = False
            self.playout.end_of_generation()
        if content.turn_complete:
            self.metrics.turns += 1
            self.playout.end_of_turn(f"turn-{self.metrics.turns}")
            self.transcript.close("agent", self._ms())
            self._awaiting_first_audio = True
            self._generating = False
            self._turn_done_at = now
            if self.uplink.masked:  # the opening, with the AI disclosure, was spoken in full
                self.uplink.masked = False
                self.transcript.note("system", f"AI disclosure given: {self._disclosure}", self._ms())
            if self._idle_on_turn_complete:
                self._idle()
        status = content.interaction_status
        if status == types.InteractionStatus.IDLE and not self._idle_on_turn_complete:
            self._idle()
        elif status in (types.InteractionStatus.IN_PROGRESS, types.InteractionStatus.REQUIRES_ACTION):
            self._agent_quiet.clear()  # working (thinking, or waiting for a tool) before it speaks

    def _on_model_audio(self, pcm: bytes) -> None:
        """A piece of the model's reply (24 kHz PCM): from a message the SDK parsed, or straight off the
        socket for an audio-only one (engine.model_audio)."""
        if not pcm:
            return
        if self._awaiting_first_audio:
            self._awaiting_first_audio = False
            self._generating = True
            self._agent_quiet.clear()
            voice = self.uplink.last_voice_at
            if voice is not None and voice != self._last_voice_answered:
                self._last_voice_answered = voice
                self.metrics.turn_latencies_ms.append((self._loop.time() - voice) * 1000)
        if not self._model_muted:  # on hold the caller hears hold audio, not the model
            self.playout.add_model_audio(pcm)

    @property
    def _idle_on_turn_complete(self) -> bool:
        """Whether turnComplete means the model is idle; on extended thinking it does not (the model may
        close a spoken part and go on working): there only interactionStatus IDLE does."""
        model = catalog.get(self.agent.model)
        return model is None or model.turn_complete_is_idle

    def _idle(self) -> None:
        """The model has finished and waits for the caller: a goodbye may follow, a pending hang-up
        happens, and an identical tool call from now on is a new request."""
        self._agent_quiet.set()
        if self._tools:
            self._tools.new_turn()
        if self._hangup_after_turn and self._tools and not self._tools.busy:
            self._end(self._hangup_after_turn)

    def _responder(self, fc: types.FunctionCall):
        # Models whose calls are NON_BLOCKING by default (3.8) keep talking while a tool runs; the
        # response says how to use the result. Other models' calls block and take no scheduling.
        model = catalog.get(self.agent.model)
        scheduling = None
        if model is not None and model.scheduling:
            scheduling = builtins.scheduling_for(self._tools.tool(fc.name or "") if self._tools else None)

        async def respond(response: dict) -> None:
            await self._link.send_tool_response(
                [types.FunctionResponse(id=fc.id, name=fc.name, response=response, scheduling=scheduling)]
            )

        return respond

    async def _tool_end_call(self, tool, args: dict) -> dict:
        self._hangup_after_turn = f"agent ended the call: {args.get('reason') or 'done'}"

        async def grace() -> None:
            await asyncio.sleep(END_CALL_GRACE_S)
            self._end(self._hangup_after_turn)

        self._spawn(grace())
        return {"ok": True, "instructions": "Say a short goodbye now; the call ends after it."}

    async def _tool_transfer(self, tool, args: dict) -> dict:
        destination = str(args.get("destination", "")).strip()
        transfer = getattr(self.port, "transfer", None)
        if transfer is None:
            raise ToolError("transfers are not possible on this line")
        result = await transfer(destination)
        if not result.get("ok"):
            # Stored in ToolInvocation.error (shown on the call page) and told to the model.
            raise ToolError(result.get("error") or f"the transfer to {destination} failed")
        self._remote = True  # the carrier now owns the caller: don't hang up on them
        self._hangup_after_turn = f"transferred to {destination}"
        return result

    async def _finish(self) -> None:
        """Let the goodbye play, close everything, and hand the records to Celery."""
        self.uplink.stop_feeding()
        if not self._remote:
            await self.playout.drain()
        if self._link:
            await self._link.close()
        if self._tools:
            await self._tools.wait_idle(timeout=2)
            self._tools.abandon()  # e.g. an accepted transfer's response, with Gemini already closed
        for task in self._aux:
            task.cancel()
        await self.playout.stop()
        if not self._remote:
            await self._safe_hangup(self._end_reason or "completed")
        ended_at = timezone.now()
        self.transcript.close_all(self._ms())
        recording = None
        if self._recording is not None:
            try:
                recording = await self._recording.finish()
            except Exception:  # noqa: BLE001 - a storage failure must not lose the transcript
                log.exception("saving the recording failed")
        usage = self._link.usage if self._link else {}
        payload = {
            "call_id": str(self.call_id),
            "status": self._status,
            "end_reason": self._end_reason or "completed",
            "answered_at": self._answered_at.isoformat(),
            "ended_at": ended_at.isoformat(),
            "tokens": usage,
            "segments": self.transcript.segments,
            "metrics": self._metrics(),
            "tool_invocations": self._tools.invocations if self._tools else [],
            "recording": recording,
            "handoff": self.handoff.payload() if self.handoff else None,
        }
        from calls.tasks import store_call

        try:
            await enqueue(store_call, payload)
        except Exception:
            log.exception("handing the call records to Celery failed")
        log.info("call ended: %s", self._end_reason or "completed")


async def start_call(request: CallRequest, port: MediaPort) -> CallHandle:
    """Route the call, create its row, and start the engine. Returns once the call is accepted or refused."""
    handle = CallHandle(request, port)
    presence.keep_alive()
    await handle._prepare()
    handle._task = asyncio.create_task(handle._run(), name=f"call:{handle.call_id}")
    return handle
