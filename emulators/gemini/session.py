"""One BidiGenerateContent connection: setup checks, input handling, VAD, and the model's turns.

The reader coroutine handles client frames in order; a single turn worker produces model turns one at a
time (so turnComplete of one turn always precedes the next turn), and barge-in cancels the worker's
current job.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from . import models as contracts
from . import protocol as p
from . import speech
from .scenario import Plan, fill
from .vad import EnergyVad

if TYPE_CHECKING:
    from .server import EmulatorServer

log = logging.getLogger("emulators.gemini")

SAY_EXACTLY = re.compile(r"say exactly:?\s*[\"“]([^\"”]+)[\"”]", re.IGNORECASE)
# A client's request to pick up a reply that a reconnect cut (the engine's CONTINUE_CUT_REPLY). That
# the real model continues when asked is assumed [?]; here it speaks the words it had not yet sent.
CONTINUE = re.compile(r"\bcontinue (?:your|the) (?:reply|answer)\b", re.IGNORECASE)
VOICES = set(
    "Zephyr Puck Charon Kore Fenrir Leda Orus Aoede Callirrhoe Autonoe Enceladus Iapetus Umbriel Algieba "
    "Despina Erinome Algenib Rasalgethi Laomedeia Achernar Alnilam Schedar Gacrux Pulcherrima Achird "
    "Zubenelgenubi Vindemiatrix Sadachbia Sadaltager Sulafat".split()
)
ENUMS = {
    ("realtime_input_config", "activity_handling"): {
        "ACTIVITY_HANDLING_UNSPECIFIED",
        "START_OF_ACTIVITY_INTERRUPTS",
        "NO_INTERRUPTION",
    },
    ("realtime_input_config", "turn_coverage"): {
        "TURN_COVERAGE_UNSPECIFIED",
        "TURN_INCLUDES_ONLY_ACTIVITY",
        "TURN_INCLUDES_ALL_INPUT",
        "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
    },
    ("automatic_activity_detection", "start_of_speech_sensitivity"): {
        "START_SENSITIVITY_UNSPECIFIED",
        "START_SENSITIVITY_HIGH",
        "START_SENSITIVITY_LOW",
    },
    ("automatic_activity_detection", "end_of_speech_sensitivity"): {
        "END_SENSITIVITY_UNSPECIFIED",
        "END_SENSITIVITY_HIGH",
        "END_SENSITIVITY_LOW",
    },
}
OUT_RATE = 24000
CHUNK_UNIT = OUT_RATE * 2 * 40 // 1000  # 40 ms of 24 kHz PCM16 = 1920 bytes
CHUNK_PATTERN = [1, 4, 8, 12, 19, 6, 15, 10]  # x 40 ms: 40-760 ms per message, like the real service
AUDIO_TOKENS_PER_S = 25
UPDATE_EVERY_S = 2.0  # while the caller streams and nothing else happens, a resumption update this often
KEEP_HANDLES = 20  # per conversation: older handles are forgotten (a client resumes with its newest)


@dataclasses.dataclass
class PendingCall:
    id: str
    name: str
    after_tool: str | None
    batch: str


@dataclasses.dataclass
class Conversation:
    """What survives a resumption: the turn counter, history, pending tool calls."""

    turn: int = 0
    history: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    pending: dict[str, PendingCall] = dataclasses.field(default_factory=dict)
    prompt_tokens: int = 0  # the context the model reads each turn, all modalities
    prompt_audio_tokens: int = 0  # of which audio (the caller's speech and the model's own replies)
    handles: list[str] = dataclasses.field(default_factory=list)
    instruction: str = ""  # the system instruction in force (setup, then contextUpdate)
    cut: str | None = None  # the words of a reply its connection's end cut off, not yet spoken


@dataclasses.dataclass
class SessionRecord:
    """Introspection for tests: what the client sent and what the emulator did."""

    path: str
    headers: dict[str, str]
    api_version: str = ""
    setup: dict[str, Any] | None = None  # the raw setup object as received
    messages: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # raw frames after setup
    frame_types: list[str] = dataclasses.field(default_factory=list)  # "text" | "binary", every frame
    heard: list[str] = dataclasses.field(default_factory=list)  # input transcriptions
    said: list[str] = dataclasses.field(default_factory=list)  # model turns (full text)
    tool_calls: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tool_responses: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    resumed_from: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    conversation: Conversation | None = None
    usage: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # usageMetadata sent, in order


PACING_LEAD_S = 0.3  # a paced reply runs this far ahead of real time (the service, too, sends ahead)


class Dropped(Exception):
    """The drop_mid_turn fault aborted the transport."""


class Session:
    def __init__(self, server: EmulatorServer, ws: ServerConnection, record: SessionRecord) -> None:
        self.server = server
        self.ws = ws
        self.record = record
        self.profile = server.profile
        self.conv = Conversation()
        self.setup: dict[str, Any] = {}
        self.key: str | None = None
        self.jobs: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.current: asyncio.Task[None] | None = None
        self.turn_open = False
        self.turn_gen = 0
        self.turn_first_audio: float | None = None
        self.turn_audio_s = 0.0
        self.turn_text: list[str] = []
        self.turn_calls: list[str] = []
        self.said_words = 0  # words of the reply being streamed whose audio was sent
        self.vad: EnergyVad | None = None
        self.manual = False
        self.manual_active = False
        self.manual_audio: list[bytes] = []
        self.resamplers: dict[int, speech.StreamResampler] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        self.counted = False
        self.closing = False
        self.declared: set[str] = set()
        self.non_blocking: set[str] = set()  # functions declared with behavior NON_BLOCKING
        self.contract = contracts.OPEN
        self.speaking_for: str | None = None  # the batch whose preface is being spoken (non-blocking)
        self.in_progress = False  # interactionStatus IN_PROGRESS sent for the current interaction
        self.usage_in = {"TEXT": 0, "AUDIO": 0}  # this connection's running totals (usageMetadata)
        self.usage_out = {"TEXT": 0, "AUDIO": 0}
        # lastConsumedClientMessageIndex: client messages of this connection are numbered from the
        # setup (0); `settled` is the last one whose effect is in the resumable state (see _at_rest).
        self.msg_index = 0
        self.settled = 0
        self.speech_started = 0.0  # stream time the VAD's current utterance started
        self.reported = -1  # the index the last update carried
        self.updated_at = 0.0  # loop time of the last update
        self.unheard = 0  # inputs queued (an utterance, a text) that are not yet in the conversation
        self.pending_text: list[str] = []  # user text of clientContent turns not yet complete
        self.seeded = False  # initial history (historyConfig) closed by its turnComplete
        # The newest handle this connection issued resumes the live conversation (what the model said or
        # was cut from saying after it); every older one a snapshot taken when it was issued.
        self.live_handle: str | None = None
        self.live_snapshot: Conversation | None = None

    # --- plumbing ---------------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Binary frame of compact UTF-8 JSON, camelCase top-level keys (reference §4)."""
        await self.ws.send(json.dumps(message, separators=(",", ":")).encode("utf-8"))

    async def close(self, close: tuple[int, str]) -> None:
        code, reason = close
        reason = p.truncate_reason(reason)
        self.record.close_code, self.record.close_reason = code, reason
        self.closing = True
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    # --- lifecycle --------------------------------------------------------------------------------

    async def run(self, api_version: str, key: str | None) -> None:
        self.record.api_version = api_version
        self.key = key
        try:
            await self._serve(api_version)
        except p.ProtocolError as exc:
            await self.close((exc.code, exc.reason))
        except (ConnectionClosed, Dropped):
            pass
        finally:
            self.closing = True
            for task in [*self.tasks, *([self.current] if self.current else [])]:
                task.cancel()
            self._keep_unspoken_reply()
            if self.counted and self.key is not None:
                self.server.active[self.key] -= 1
            if self.record.close_code is None and self.ws.close_code is not None:
                self.record.close_code = self.ws.close_code
                self.record.close_reason = self.ws.close_reason

    def _keep_unspoken_reply(self) -> None:
        """A reply already decided (after a tool response) but not yet spoken when the connection
        ended stays in the conversation, like a cut one, for a resumed session asked to continue."""
        while not self.jobs.empty():
            job = self.jobs.get_nowait()
            if job[0] == "after_tool" and job[1] and job[2] == self.turn_gen and self.conv.cut is None:
                self.conv.cut = job[1]

    async def _recv(self) -> dict[str, Any]:
        frame = await self.ws.recv()
        if self.server.keep_records:
            self.record.frame_types.append("text" if isinstance(frame, str) else "binary")
        try:
            obj = json.loads(frame)
        except (ValueError, UnicodeDecodeError):
            raise p.ProtocolError((1007, "Invalid JSON payload received. Unexpected token.")) from None
        if not isinstance(obj, dict):
            raise p.ProtocolError((1007, "Invalid JSON payload received. Unexpected token."))
        return obj

    async def _serve(self, api_version: str) -> None:
        first = await self._recv()
        if len(first) != 1 or p.snake(next(iter(first))) != "setup":
            raise p.ProtocolError(p.NOT_FIRST)
        self.record.setup = next(iter(first.values()))
        if not self.key:
            raise p.ProtocolError(p.NO_KEY)
        if self.key != self.server.api_key:
            raise p.ProtocolError(p.BAD_KEY)
        _, setup = p.parse_client_message(first, api_version)
        model_id = str(setup.get("model") or "").removeprefix("models/")
        if model_id in self.server.live_models and contracts.hangs(model_id, setup):
            await self.ws.wait_closed()  # as the real service: no setupComplete, no close
            return
        self._check_setup(setup, api_version)
        # quota: simultaneous sessions per key
        active = self.server.active.get(self.key, 0)
        if active >= self.server.max_sessions:
            raise p.ProtocolError(p.QUOTA)
        self.server.active[self.key] = active + 1
        self.counted = True
        handle = (setup.get("session_resumption") or {}).get("handle")
        if handle:
            if self.server.faults.refuse_resumption_once:
                self.server.faults.refuse_resumption_once = False
                raise p.ProtocolError(p.INTERNAL)
            conv = self.server.conversations.get(handle)
            if conv is None:
                raise p.ProtocolError(p.SESSION_NOT_FOUND)
            self.conv = copy.deepcopy(conv)  # the conversation as it stood when that handle was issued
            self.record.resumed_from = handle
        self.record.conversation = self.conv
        self.setup = setup
        self.contract = contracts.contract(model_id)
        self._configure()
        if self.profile.setup_delay_s:
            await asyncio.sleep(self.profile.setup_delay_s)
        await self.send({"setupComplete": {}})
        await self._resumption_update()
        self.tasks.append(asyncio.create_task(self._worker()))
        self.tasks.append(asyncio.create_task(self._lifecycle()))
        while True:
            obj = await self._recv()
            if self.server.keep_records:
                self.record.messages.append(obj)
            self.msg_index += 1
            field, body = p.parse_client_message(obj, api_version)
            if field == "setup":
                raise p.ProtocolError(p.SECOND_SETUP)
            if field == "realtime_input":
                await self._realtime_input(body)
            elif field == "client_content":
                await self._client_content(body)
            elif field == "tool_response":
                await self._tool_response(body)
            elif field == "context_update":
                # [DOC SDK 3.x send_context_update] a new systemInstruction applies from the next turn;
                # [ASSUMED] the real service acknowledges nothing; `tools` updates are not modelled.
                system = body.get("systemInstruction") or body.get("system_instruction")
                if isinstance(system, (dict, str)):
                    self.conv.instruction = _text_of(system)
            if self._at_rest():
                self.settled = self.msg_index
                now = asyncio.get_running_loop().time()
                if self.reported < self.settled and now - self.updated_at >= UPDATE_EVERY_S:
                    await self._resumption_update()

    def _at_rest(self) -> bool:
        """Everything received so far is in the conversation (what a resumption restores): no
        utterance under way in the VAD (nor loud frames that may start one), no manual activity
        open, no queued input not yet heard. Audio of an utterance in progress is not: a resumed
        session never hears it unless the client sends it again."""
        vad_idle = self.vad is None or (not self.vad.in_speech and not self.vad.loud_run)
        return vad_idle and not self.manual_active and not self.unheard

    async def _queue_input(self, job: tuple[Any, ...]) -> None:
        self.unheard += 1
        await self.jobs.put(job)

    async def _heard(self) -> None:
        """An input entered the conversation: tell the client what is now resumable."""
        self.unheard = max(0, self.unheard - 1)
        await self._resumption_update()

    def _check_setup(self, setup: dict[str, Any], api_version: str) -> None:
        """Everything the real service refuses in an otherwise well-formed setup."""
        model = str(setup.get("model") or "")
        model_id = model.removeprefix("models/")
        if model_id not in self.server.live_models:
            raise p.ProtocolError(
                p.model_not_found(model if model.startswith("models/") else f"models/{model}", api_version)
            )
        contracts.check(model_id, setup, self.record.setup or {})
        gen = setup.get("generation_config") or {}
        if "response_modalities" in gen:
            modalities = gen["response_modalities"]
            if not isinstance(modalities, list) or len(modalities) != 1:
                raise p.ProtocolError(p.INVALID_ARGUMENT)
            if str(modalities[0]).upper() != "AUDIO":
                raise p.ProtocolError(p.NON_AUDIO)
        voice = (
            ((gen.get("speech_config") or {}).get("voice_config") or {}).get("prebuilt_voice_config") or {}
        ).get("voice_name")
        if voice is not None and voice not in VOICES:
            raise p.ProtocolError(p.INVALID_ARGUMENT)
        ric = setup.get("realtime_input_config") or {}
        aad = ric.get("automatic_activity_detection") or {}
        for (parent, field), allowed in ENUMS.items():
            source = ric if parent == "realtime_input_config" else aad
            value = source.get(field)
            if value is not None and value not in allowed:
                path = "setup.realtime_input_config." + (
                    field if parent == "realtime_input_config" else f"automatic_activity_detection.{field}"
                )
                raise p.ProtocolError((1007, f"Invalid value at '{path}', \"{value}\""))
        for tool in setup.get("tools") or []:
            for decl in tool.get("function_declarations") or []:
                if decl.get("name"):
                    self.declared.add(decl["name"])
                    if decl.get("behavior") == "NON_BLOCKING":
                        self.non_blocking.add(decl["name"])

    def _configure(self) -> None:
        ric = self.setup.get("realtime_input_config") or {}
        aad = ric.get("automatic_activity_detection") or {}
        self.manual = bool(aad.get("disabled"))
        self.interrupts = ric.get("activity_handling", "START_OF_ACTIVITY_INTERRUPTS") != "NO_INTERRUPTION"
        if not self.manual:
            self.vad = EnergyVad(
                start_sensitivity=aad.get("start_of_speech_sensitivity"),
                end_sensitivity=aad.get("end_of_speech_sensitivity"),
                prefix_padding_ms=aad.get("prefix_padding_ms"),
                silence_duration_ms=aad.get("silence_duration_ms"),
                default_silence_ms=self.profile.silence_ms,
            )
        system = self.setup.get("system_instruction") or {}
        self.conv.instruction = _text_of(system)
        words = sum(len(str(part.get("text", "")).split()) for part in system.get("parts", []))
        if not self.conv.prompt_tokens:
            self.conv.prompt_tokens = 40 + int(words * 1.3)

    async def _resumption_update(self) -> None:
        """A new handle, with the index of the last client message whose effect it holds.

        `lastConsumedClientMessageIndex` [SDK docstring]: "Index of last message sent by client that
        is included in state represented by this SessionResumptionToken". Assumed [?]: that the
        Developer API sends it at all (the docstring says only with `transparent`, which the
        Developer API refuses), that the setup is message 0, and the proto3 JSON form of an int64
        (a string). Sent after setupComplete, whenever an input enters the conversation, after each
        completed turn, and every UPDATE_EVERY_S while caller audio is consumed with nothing else
        happening (the real 3.8-live was seen sending one per connection [OBS]; how often the
        service sends them when it reports the index is not known [?])."""
        if "session_resumption" not in self.setup:
            return
        if self._at_rest():
            self.settled = self.msg_index
        handle = str(uuid.uuid4())
        if self.live_handle is not None and self.live_snapshot is not None:
            # Superseded: that handle now resumes the conversation as it stood when it was issued.
            self.server.conversations[self.live_handle] = self.live_snapshot
        self.conv.handles.append(handle)
        self.live_handle, self.live_snapshot = handle, copy.deepcopy(self.conv)
        self.server.conversations[handle] = self.conv
        if len(self.conv.handles) > KEEP_HANDLES:
            self.server.conversations.pop(self.conv.handles.pop(0), None)
        self.reported, self.updated_at = self.settled, asyncio.get_running_loop().time()
        await self.send(
            {
                "sessionResumptionUpdate": {
                    "newHandle": handle,
                    "resumable": True,
                    "lastConsumedClientMessageIndex": str(self.settled),
                }
            }
        )

    async def _lifecycle(self) -> None:
        """goAway before the connection cap (or early, as a fault), then 1008 if the client stays."""
        faults = self.server.faults
        if faults.goaway_after_s is not None:
            at, left = faults.goaway_after_s, faults.goaway_time_left_s
        else:
            at = self.profile.connection_cap_s - self.profile.goaway_before_s
            left = self.profile.goaway_before_s
        await asyncio.sleep(max(0.0, at))
        await self.send({"goAway": {"timeLeft": p.duration(left)}})
        await asyncio.sleep(left)
        self.closing = True
        if self.current:
            self.current.cancel()
        await self.close(p.GOAWAY_IGNORED)

    # --- input ------------------------------------------------------------------------------------

    def _to_16k(self, blob: dict[str, Any], path: str) -> bytes | None:
        rate = p.pcm_rate(blob.get("mime_type"))
        data = p.b64decode(blob.get("data", ""), f"{path}.data")
        if rate is None:
            return None
        if rate not in self.resamplers:
            self.resamplers[rate] = speech.StreamResampler(rate)
        return self.resamplers[rate].feed(data)

    async def _realtime_input(self, body: dict[str, Any]) -> None:
        if "audio" in body:
            blob = body["audio"]
            if p.pcm_rate(blob.get("mime_type")) is None:
                raise p.ProtocolError(p.INVALID_ARGUMENT)
            await self._audio(self._to_16k(blob, "realtime_input.audio") or b"")
        for i, blob in enumerate(body.get("media_chunks") or []):
            pcm = self._to_16k(blob, f"realtime_input.media_chunks[{i}]")
            if pcm is not None:
                await self._audio(pcm)
        if "video" in body:
            p.b64decode(body["video"].get("data", ""), "realtime_input.video.data")
        if body.get("audio_stream_end") and self.vad is not None:
            for event in self.vad.flush():
                await self._vad_event(event.kind, event.audio)
        if "activity_start" in body:
            if not self.manual:
                raise p.ProtocolError(p.ACTIVITY_WITH_AUTO_VAD)
            if self.interrupts:
                await self._interrupt()
            self.manual_active = True
            self.manual_audio = []
        if "activity_end" in body:
            if not self.manual:
                raise p.ProtocolError(p.ACTIVITY_WITH_AUTO_VAD)
            if self.manual_active:
                self.manual_active = False
                audio = b"".join(self.manual_audio)
                self.manual_audio = []
                if not audio:
                    await self.send({"serverContent": {"turnComplete": True}, "usageMetadata": {}})
                    raise p.ProtocolError(p.PRECONDITION)
                self._heard_audio(audio)
                await self._queue_input(("audio", audio))
        if "text" in body and body["text"]:
            text = str(body["text"])
            match = SAY_EXACTLY.search(text)
            if self.interrupts:
                await self._interrupt()
            if match:
                await self._queue_input(("say", match.group(1).strip()))
            elif CONTINUE.search(text):
                # Nothing was cut (or it is still to come, e.g. after a pending tool): nothing to say.
                cut, self.conv.cut = self.conv.cut, None
                if cut:
                    await self._queue_input(("say", cut))
            else:
                await self._queue_input(("text", text))

    async def _audio(self, pcm16k: bytes) -> None:
        if self.manual:
            if self.manual_active:
                self.manual_audio.append(pcm16k)
            return
        assert self.vad is not None
        for event in self.vad.feed(pcm16k):
            if event.kind == "start":
                self.speech_started = event.offset_s
            await self._vad_event(event.kind, event.audio)
        drop = self.server.faults.drop_mid_speech_s
        if drop is not None and self.vad.in_speech and self.vad.offset_s - self.speech_started >= drop:
            self.server.faults.drop_mid_speech_s = None
            self.closing = True
            self.ws.transport.abort()
            raise Dropped()

    async def _vad_event(self, kind: str, audio: bytes) -> None:
        if kind == "start":
            if self.interrupts:
                await self._interrupt()
        else:
            self._heard_audio(audio)
            await self._queue_input(("audio", audio))

    async def _client_content(self, body: dict[str, Any]) -> None:
        """Turns join the history in order and interrupt the reply in progress [DOC reference §3]. A
        turn that completes with audio is heard like speech; a text-only one is answered like heard
        speech, refused, or only seeds history, per the model (models.Contract.client_text)."""
        if self.contract.client_text == "initial_history":
            history = self.setup.get("history_config") or {}
            if self.seeded or not history.get("initial_history_in_client_content"):
                raise p.ProtocolError(self.contract.client_text_close)
        audio: list[bytes] = []
        for i, content in enumerate(body.get("turns") or []):
            role = content.get("role", "user")
            for j, part in enumerate(content.get("parts") or []):
                if "text" in part:
                    self.conv.history.append((role, str(part["text"])))
                    self.conv.prompt_tokens += int(len(str(part["text"]).split()) * 1.3)
                    if role == "user":
                        self.pending_text.append(str(part["text"]))
                if "inline_data" in part:
                    pcm = self._to_16k(
                        part["inline_data"], f"client_content.turns[{i}].parts[{j}].inline_data"
                    )
                    if pcm:
                        audio.append(pcm)
        if self.turn_open:
            await self._interrupt()
        if not body.get("turn_complete"):
            return
        text, self.pending_text = " ".join(self.pending_text), []
        if self.contract.client_text == "initial_history":
            self.seeded = True  # history only: no model call [DOC HistoryConfig]
        elif audio:
            await self._queue_input(("audio", b"".join(audio)))
        elif self.contract.client_text == "refused":
            raise p.ProtocolError(self.contract.client_text_close)
        elif match := SAY_EXACTLY.search(text):
            await self._queue_input(("say", match.group(1).strip()))
        else:
            await self._queue_input(("content", text))

    async def _tool_response(self, body: dict[str, Any]) -> None:
        """Answers for ids never issued (or already cancelled) are ignored. Once every call of a batch is
        answered, the model says `after_tool` per the last response's `scheduling`: WHEN_IDLE (or none)
        after what it is saying, INTERRUPT cuts its preface short first, SILENT says nothing."""
        for response in body.get("function_responses") or []:
            self.record.tool_responses.append(response)
            call = self.conv.pending.pop(str(response.get("id")), None)
            if call is None:
                continue
            self.conv.history.append(("tool", json.dumps(response.get("response"), sort_keys=True)))
            if any(c.batch == call.batch for c in self.conv.pending.values()):
                continue
            scheduling = response.get("scheduling")
            text = fill(call.after_tool, response.get("response")) if call.after_tool else None
            if scheduling == "SILENT":
                text = None
            elif scheduling == "INTERRUPT" and self.speaking_for == call.batch and self.current:
                self.current.cancel()  # [ASSUMED] the preface stops where it is; no `interrupted`
            await self.jobs.put(("after_tool", text, self.turn_gen))

    # --- model turns ------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            job = await self.jobs.get()
            if job[0] == "after_tool" and job[2] != self.turn_gen:
                continue  # the turn that asked for this tool was interrupted
            self.current = asyncio.create_task(self._run(job))
            await asyncio.wait({self.current})
            task, self.current = self.current, None
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                if isinstance(exc, Dropped | ConnectionClosed):
                    return
                log.error("gemini emulator turn failed", exc_info=exc)

    async def _run(self, job: tuple[Any, ...]) -> None:
        kind = job[0]
        if kind == "say":
            await self._heard()
            await self._speak(job[1], complete=True)
        elif kind == "after_tool":
            if job[1]:
                await self._speak(job[1], complete=True)
            else:
                await self._finish_turn()
        elif kind == "text":
            self.conv.turn += 1
            self.conv.history.append(("user", job[1]))
            self.conv.prompt_tokens += int(len(job[1].split()) * 1.3)
            await self._heard()
            await self._follow(
                self.server.scenario.plan(self.conv.turn, job[1], self.declared, self.conv.instruction)
            )
        elif kind == "content":  # a clientContent text turn, already in the history
            self.conv.turn += 1
            await self._heard()
            await self._follow(
                self.server.scenario.plan(self.conv.turn, job[1], self.declared, self.conv.instruction)
            )
        elif kind == "audio":
            heard = ""
            if self.profile.recognize:
                heard = await speech.recognise_async(job[1], self.server.phrases)
            self.conv.turn += 1
            self.conv.history.append(("user", heard))
            self.record.heard.append(heard)
            await self._heard()
            if heard and "input_audio_transcription" in self.setup:
                await self.send({"serverContent": {"inputTranscription": {"text": heard, "finished": True}}})
            await self._follow(
                self.server.scenario.plan(self.conv.turn, heard, self.declared, self.conv.instruction)
            )

    async def _status(self, status: str, **content: Any) -> None:
        """serverContent.interactionStatus, on models that send it (extended thinking); `content` rides
        along (turnComplete). Elsewhere only `content` is sent, if any."""
        if self.contract.interaction_status:
            content = {**content, "interactionStatus": status}
            self.in_progress = status == "IN_PROGRESS"
        if content:
            await self.send({"serverContent": content})

    async def _working(self) -> None:
        """The model starts (or resumes) working on the caller's request: IN_PROGRESS, once."""
        if self.contract.interaction_status and not self.in_progress:
            await self._status("IN_PROGRESS")

    async def _follow(self, plan: Plan) -> None:
        if plan.call_name is None:
            await self._speak(plan.reply or "", complete=True)
            return
        # Blocking calls: the preface, then the call, then silence until the response. Non-blocking
        # calls (3.8, or `behavior: NON_BLOCKING`): the call first, and the model keeps talking.
        non_blocking = self.contract.non_blocking_calls or plan.call_name in self.non_blocking
        if plan.reply and not non_blocking:
            await self._speak(plan.reply, complete=False)
        self._open_turn()
        await self._working()
        batch = uuid.uuid4().hex
        for _ in range(plan.repeat):  # identical calls back to back, each with its own id
            call_id = f"call_{uuid.uuid4().int % 10**6:06d}"
            self.conv.pending[call_id] = PendingCall(call_id, plan.call_name, plan.after_tool, batch)
            self.turn_calls.append(call_id)
            call = {"id": call_id, "name": plan.call_name, "args": plan.call_args}
            self.record.tool_calls.append(call)
            await self.send({"toolCall": {"functionCalls": [call]}})
        if plan.reply and non_blocking:
            self.speaking_for = batch
            try:
                await self._speak(plan.reply, complete=False)
            finally:
                self.speaking_for = None
            if self.contract.interaction_status:
                # [ASSUMED] extended thinking closes the spoken preface with turnComplete while the
                # interaction goes on (REQUIRES_ACTION until the results are in): turnComplete is not idle.
                await self._hold_for_playback()
                waiting = any(c in self.conv.pending for c in self.turn_calls)
                await self._status(
                    "REQUIRES_ACTION" if waiting else "IN_PROGRESS",
                    generationComplete=True,
                    turnComplete=True,
                )

    def _open_turn(self) -> None:
        if not self.turn_open:
            self.turn_open = True
            self.turn_first_audio = None
            self.turn_audio_s = 0.0
            self.turn_text = []
            self.turn_calls = []

    async def _speak(self, text: str, *, complete: bool) -> None:
        """Stream one reply as 24 kHz PCM chunks with interleaved output transcription."""
        if not text:
            if complete:
                await self._finish_turn()
            return
        pcm = await speech.speak(text)
        pcm += b"\0" * (-len(pcm) % CHUNK_UNIT)
        delay = self.profile.first_audio_delay_s + self.server.faults.first_audio_delay_s
        if delay:
            await asyncio.sleep(delay)
        self._open_turn()
        await self._working()
        self.record.said.append(text)
        words = text.split()
        transcribe = "output_audio_transcription" in self.setup
        drop_at = len(pcm) // 2 if self.server.faults.drop_mid_turn else None
        loop = asyncio.get_running_loop()
        try:
            await self._stream_reply(pcm, words, transcribe, drop_at, loop)
        except (asyncio.CancelledError, Dropped, ConnectionClosed) as exc:
            if self.closing or not isinstance(exc, asyncio.CancelledError):
                # The connection ended mid-reply (not a barge-in): the rest stays in the
                # conversation, for a resumed session asked to continue.
                rest = " ".join(words[self.said_words :])
                self.conv.cut = rest or None
                if self.said_words:
                    self.conv.history.append(("model", " ".join(words[: self.said_words])))
            raise
        self.conv.history.append(("model", text))
        if complete:
            await self._finish_turn()

    async def _stream_reply(
        self,
        pcm: bytes,
        words: list[str],
        transcribe: bool,
        drop_at: int | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        said_words = self.said_words = 0
        offset, i = 0, 0
        started = loop.time()
        while offset < len(pcm):
            if drop_at is not None and offset >= drop_at:
                self.server.faults.drop_mid_turn = False
                self.closing = True
                self.ws.transport.abort()
                raise Dropped()
            size = CHUNK_PATTERN[i % len(CHUNK_PATTERN)] * CHUNK_UNIT
            chunk = pcm[offset : offset + size]
            offset += len(chunk)
            i += 1
            if self.turn_first_audio is None:
                self.turn_first_audio = loop.time()
            seconds = len(chunk) / (OUT_RATE * 2)
            self.turn_audio_s += seconds
            await self.send(
                {
                    "serverContent": {
                        "modelTurn": {
                            "parts": [
                                {
                                    "inlineData": {
                                        "mimeType": "audio/pcm;rate=24000",
                                        "data": p.b64encode(chunk),
                                    }
                                }
                            ]
                        }
                    }
                }
            )
            target = round(len(words) * offset / len(pcm))
            if target > said_words:
                piece = " ".join(words[said_words:target])
                if said_words:
                    piece = " " + piece
                self.turn_text.append(piece)
                if transcribe:
                    await self.send({"serverContent": {"outputTranscription": {"text": piece}}})
                said_words = self.said_words = target
            if self.profile.send_speed > 0:
                # Against the reply's own clock (sleeps that overshoot do not add up), a little ahead of
                # real time as the service runs: delivery slower than playback would starve the caller.
                sent_s = offset / (OUT_RATE * 2) / self.profile.send_speed
                await asyncio.sleep(max(0.0, started + sent_s - PACING_LEAD_S - loop.time()))
            else:
                await asyncio.sleep(0)

    async def _finish_turn(self) -> None:
        """generationComplete now; turnComplete once the reply would have finished playing."""
        self._open_turn()
        await self.send({"serverContent": {"generationComplete": True}})
        await self._hold_for_playback()
        await self._complete(interrupted=False)

    async def _hold_for_playback(self) -> None:
        """Wait until what was sent this turn would have finished playing (at the profile's pace)."""
        if self.turn_first_audio is not None:
            end = self.turn_first_audio + self.turn_audio_s * self.profile.hold_factor
            remaining = end - asyncio.get_running_loop().time()
            if remaining > 0:
                await asyncio.sleep(remaining)

    def _heard_audio(self, pcm16k: bytes) -> None:
        """The caller's audio joins the context: 25 tokens a second."""
        tokens = int(len(pcm16k) / 32000 * AUDIO_TOKENS_PER_S)
        self.conv.prompt_tokens += tokens
        self.conv.prompt_audio_tokens += tokens

    def _usage(self) -> dict[str, Any]:
        """usageMetadata as a cumulative snapshot of this connection: every turn bills the whole context
        as input again (per modality) and its reply as output [DOC pricing: context re-billed per turn;
        ASSUMED: the counts are running totals per connection, restarting on a new connection]."""
        audio_out = int(self.turn_audio_s * AUDIO_TOKENS_PER_S)
        text_out = int(len(" ".join(self.turn_text).split()) * 1.3)
        turn_in = {
            "TEXT": self.conv.prompt_tokens - self.conv.prompt_audio_tokens,
            "AUDIO": self.conv.prompt_audio_tokens,
        }
        self.conv.prompt_tokens += audio_out
        self.conv.prompt_audio_tokens += audio_out  # the model's reply is audio in its context
        for modality, tokens in turn_in.items():
            self.usage_in[modality] += tokens
        self.usage_out["AUDIO"] += audio_out
        self.usage_out["TEXT"] += text_out
        prompt, response = sum(self.usage_in.values()), sum(self.usage_out.values())
        usage = {
            "promptTokenCount": prompt,
            "responseTokenCount": response,
            "totalTokenCount": prompt + response,
            "promptTokensDetails": [{"modality": m, "tokenCount": n} for m, n in self.usage_in.items()],
            "responseTokensDetails": [{"modality": m, "tokenCount": n} for m, n in self.usage_out.items()],
        }
        self.record.usage.append(usage)
        return usage

    async def _complete(self, *, interrupted: bool) -> None:
        usage = self._usage()
        self.turn_open = False
        content: dict[str, Any] = {"turnComplete": True}
        if self.contract.interaction_status:
            content["interactionStatus"] = "IDLE"  # the interaction is over: the model waits for the caller
            self.in_progress = False
        await self.send({"serverContent": content, "usageMetadata": usage})
        if not interrupted:
            await self._resumption_update()

    async def _interrupt(self) -> None:
        """Barge-in: cancel the turn being played, then interrupted, turnComplete (reference §5)."""
        if not self.turn_open:
            return
        self.turn_gen += 1
        if self.current is not None:
            self.current.cancel()
        cancelled = [cid for cid in self.turn_calls if cid in self.conv.pending]
        for cid in cancelled:
            self.conv.pending.pop(cid, None)
        if cancelled:
            await self.send({"toolCallCancellation": {"ids": cancelled}})
        if self.turn_text:
            self.conv.history.append(("model", "".join(self.turn_text)))
        await self.send({"serverContent": {"interrupted": True}})
        await self._complete(interrupted=True)


def _text_of(system: dict[str, Any] | str) -> str:
    """The text of a systemInstruction: a string, or a Content with text parts."""
    if isinstance(system, str):
        return system
    return " ".join(str(part.get("text", "")) for part in system.get("parts", []) if isinstance(part, dict))
