"""Pipecat's Twilio + Gemini Live bot, built the way its examples build it, for `bench/vs_pipecat.py`.

It runs in its own virtualenv (`.pipecat-venv`, made by vs_pipecat.py on first use) and imports nothing of
this project. One uvicorn process: `POST /` answers Twilio's voice webhook with TwiML that connects a Media
Stream to `/ws`; each stream runs the examples' pipeline (FastAPI WebSocket transport with the Twilio
serializer -> user context aggregator -> Gemini Live service -> transport output -> assistant aggregator,
started with an LLMRunFrame so the bot greets). The Gemini stand-in's address, key and CA come from
GEMINI_BASE_URL / GEMINI_API_KEY / SSL_CERT_FILE; the end-of-turn silence from BENCH_SILENCE_MS, the same
the project's bench agent uses, so both sides ask the stand-in for the same turn-taking.

    .pipecat-venv/bin/python bench/pipecat_bot.py --port 8765
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from google.genai.types import HttpOptions
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService, GeminiVADParams
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

app = FastAPI()


@app.post("/")
async def voice(request: Request) -> Response:
    host = request.headers["host"]
    twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="ws://{host}/ws"/></Connect></Response>'
    return Response(content=twiml, media_type="application/xml")


@app.post("/status")
async def status() -> Response:
    return Response(status_code=204)


@app.websocket("/ws")
async def media(websocket: WebSocket) -> None:
    await websocket.accept()
    _transport_type, call_data = await parse_telephony_websocket(websocket)
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer
        ),
    )
    llm = GeminiLiveLLMService(
        api_key=os.environ["GEMINI_API_KEY"],
        system_instruction="You are a benchmark agent.",
        settings=GeminiLiveLLMService.Settings(
            vad=GeminiVADParams(silence_duration_ms=int(os.environ.get("BENCH_SILENCE_MS", "300")))
        ),
        http_options=HttpOptions(base_url=os.environ["GEMINI_BASE_URL"]),
    )
    context = LLMContext([{"role": "user", "content": "Say hello."}])
    aggregators = LLMContextAggregatorPair(context)
    pipeline = Pipeline(
        [transport.input(), aggregators.user(), llm, transport.output(), aggregators.assistant()]
    )
    task = PipelineTask(
        pipeline, params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000)
    )

    @transport.event_handler("on_client_connected")
    async def on_client_connected(_transport, _client) -> None:
        await task.queue_frames([LLMRunFrame()])

    await PipelineRunner(handle_sigint=False).run(task)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
