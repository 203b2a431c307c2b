"""A simulated caller played by a second Gemini Live session: two models talk, through the real engine.

For an agent test case with a persona (`AgentTestCase.persona`), `manage.py testagent` opens a Live
session that plays the caller: what the agent says (the loopback line's audio) is sent to it as the
caller's hearing, and what it says is streamed into the call at real time as the caller's voice.
With a real key both sides are Gemini; offline both are the emulator, whose scripted model follows
the case's talking points (one per turn, see docs/gemini-emulator.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from django.conf import settings
from google.genai import types

from agents.gemini_client import get_client
from engine.codec import StreamResampler

from .loopback import LoopbackPort, SimulatedCaller

log = logging.getLogger(__name__)

HEAR_EVERY_S = 0.1  # how often the agent's new audio is sent to the persona
PERSONA_RATE_IN, PERSONA_RATE_OUT = 16000, 24000
QUIET_END_S = 6.0  # the persona said nothing more for this long after its last line: hang up
MAX_CALL_S = 120.0


def instruction(persona: str, points: list[str]) -> str:
    """The persona session's system instruction: who the caller is, and what to say in order."""
    text = (
        "You are a person phoning a business; the voice you hear is its automated agent. Stay in "
        "character, speak naturally, one or two short sentences at a time, and wait for the agent to "
        f"answer. Who you are and what you want: {persona.strip()}\n"
        "When what you called for is done, say goodbye."
    )
    if points:
        text += "\nSay, in order:\n" + "\n".join(f"{n}. {p}" for n, p in enumerate(points, 1))
    return text


class PersonaCaller:
    """Plays one caller in one call (`run` until the line hangs up or the persona has finished)."""

    def __init__(self, handle, port: LoopbackPort, persona: str, points: list[str]) -> None:
        self.handle = handle
        self.port = port
        self.caller = SimulatedCaller(handle, port.wire)
        self.config = types.LiveConnectConfig(
            response_modalities=[types.Modality.AUDIO],
            system_instruction=instruction(persona, points),
            speech_config=types.SpeechConfig(
                voice_config=types.VoiceConfig(
                    prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=settings.TEST_CALLER_VOICE)
                )
            ),
            output_audio_transcription=types.AudioTranscriptionConfig(),
            # A caller lets the agent finish: a comma's pause in its sentence is not the end of its turn.
            realtime_input_config=types.RealtimeInputConfig(
                automatic_activity_detection=types.AutomaticActivityDetection(silence_duration_ms=800)
            ),
        )
        self.said: list[str] = []  # what the persona said (its output transcription)
        self._speech: asyncio.Queue[bytes] = asyncio.Queue()
        self._last_spoke = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_spoke = loop.time()
        client = get_client()
        async with client.aio.live.connect(model=settings.TEST_CALLER_MODEL, config=self.config) as session:
            tasks = [
                asyncio.create_task(self._hear(session), name="persona-hear"),
                asyncio.create_task(self._listen(session), name="persona-listen"),
            ]
            try:
                await self._speak_until_done(loop)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _hear(self, session) -> None:
        """Send what the agent says (new line audio since the last send) to the persona."""
        to_16k = StreamResampler(self.port.wire.rate, PERSONA_RATE_IN)
        sent = 0
        while True:
            await asyncio.sleep(HEAR_EVERY_S)
            new = bytes(self.port.audio[sent:])
            if len(new) % 2:
                new = new[:-1]
            sent += len(new)
            # Silence while the agent is quiet, so the persona's turn detection sees the pause.
            pcm = to_16k.process(new) if new else bytes(int(PERSONA_RATE_IN * HEAR_EVERY_S) * 2)
            await session.send_realtime_input(audio=types.Blob(data=pcm, mime_type="audio/pcm;rate=16000"))

    async def _listen(self, session) -> None:
        """Queue the persona's voice at the line's rate; keep its words."""
        to_wire = StreamResampler(PERSONA_RATE_OUT, self.port.wire.rate)
        while True:
            async for message in session.receive():
                content = message.server_content
                if content is None:
                    continue
                for part in (content.model_turn.parts if content.model_turn else None) or []:
                    if part.inline_data and part.inline_data.data:
                        self._speech.put_nowait(to_wire.process(part.inline_data.data))
                if content.output_transcription and content.output_transcription.text:
                    self.said.append(content.output_transcription.text)

    async def _speak_until_done(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stream the persona's voice (or the line's silence) into the call until it hangs up, the
        persona stays quiet after the agent's last words, or MAX_CALL_S passes."""
        started = loop.time()
        while not self.port.hung_up.is_set() and loop.time() - started < MAX_CALL_S:
            try:
                pcm = self._speech.get_nowait()
            except asyncio.QueueEmpty:
                await self.caller.silence(0.1)
                agent_spoke = self.port.frame_times[-1] if self.port.frame_times else started
                if loop.time() - max(self._last_spoke, agent_spoke) > QUIET_END_S:
                    break
                continue
            await self.caller.play(pcm)
            self._last_spoke = loop.time()
        with contextlib.suppress(Exception):
            if not self.port.hung_up.is_set():
                self.handle.remote_hangup("persona caller hung up")
