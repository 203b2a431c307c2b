"""The emulator's listening socket: wss BidiGenerateContent and REST generateContent on one TLS port.

websockets only parses bodiless GET requests, so each connection swaps in a request parser that also
reads a POST body; process_request then answers generateContent with an ordinary HTTP response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import types
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage
from websockets.http11 import Request, Response, parse_headers, parse_line
from websockets.protocol import CONNECTING, Protocol

from . import models as model_table
from . import speech
from .faults import Faults
from .profiles import Profile, get_profile
from .scenario import Scenario
from .session import Session, SessionRecord

log = logging.getLogger("emulators.gemini")

LIVE_MODELS = [
    "gemini-2.5-flash-native-audio-preview-12-2025",
    "gemini-2.5-flash-native-audio-preview-09-2025",
    "gemini-2.5-flash-native-audio-latest",
    "gemini-3.1-flash-live-preview",
    "gemini-3.8-live",
    "gemini-3.8-live-extended-thinking",
]
TEXT_MODELS = [
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-3-flash-preview",
    "gemini-3-pro-preview",
    "gemini-3.1-pro-preview",
    "gemini-3.1-flash-lite-preview",
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-pro-latest",
]
LIVE_PATH = re.compile(
    r"^(?:/.*)?/ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)\.GenerativeService\."
    r"(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
REST_PATH = re.compile(r"^(?:/.*)?/(v1|v1beta|v1alpha)/models/([^/:]+):generateContent$")
MODELS_PATH = re.compile(r"^(?:/.*)?/(v1|v1beta|v1alpha)/models(?:/([^/:]+))?$")
# [ASSUMED] the texts: the real service answers unknown paths and methods 404 NOT_FOUND in its error
# JSON, and GetModel of an unknown id 404 "Model is not found: …".
METHOD_NOT_FOUND = "Method not found."
MAX_BODY = 8 * 1024 * 1024


def _parse_with_body(self: Any) -> Generator[None]:
    """ServerProtocol.parse, but accepting a Content-Length body (for POST generateContent)."""
    if self.state is CONNECTING:
        try:
            line = yield from parse_line(self.reader.read_line)
            method, path, proto = bytes(line).split(b" ", 2)
            headers = yield from parse_headers(self.reader.read_line)
            length = int(headers.get("Content-Length", "0") or 0)
            if length > MAX_BODY:
                raise ValueError("body too large")
            body = (yield from self.reader.read_exact(length)) if length else b""
            request = Request(path.decode("ascii"), headers, method.decode("ascii"), proto.decode("ascii"))
            request.body = bytes(body)  # type: ignore[attr-defined]
        except Exception as exc:
            self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
            self.handshake_exc.__cause__ = exc
            self.send_eof()
            self.parser = self.discard()
            next(self.parser)
            yield
            return
        self.events.append(request)
    yield from Protocol.parse(self)


class _Connection(ServerConnection):
    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        protocol.parse = types.MethodType(_parse_with_body, protocol)
        protocol.parser = protocol.parse()
        next(protocol.parser)
        super().__init__(protocol, *args, **kwargs)


def _http(status: int, reason: str, body: dict[str, Any] | str) -> Response:
    data = (json.dumps(body, indent=2) if isinstance(body, dict) else body).encode("utf-8")
    ctype = "application/json; charset=UTF-8" if isinstance(body, dict) else "text/plain; charset=utf-8"
    headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(data))), ("Connection", "close")])
    return Response(status, reason, headers, data)


def _google_error(code: int, status: str, message: str) -> Response:
    reasons = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
    return _http(
        code, reasons.get(code, "Error"), {"error": {"code": code, "message": message, "status": status}}
    )


def _credentials(request: Request) -> str | None:
    query = parse_qs(request.path.partition("?")[2])
    key = request.headers.get("x-goog-api-key") or (query.get("key") or [None])[0]
    if not key:
        key = (query.get("access_token") or [None])[0]
    if not key:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Token "):
            key = auth.removeprefix("Token ")
    return key


def summarise(text: str, words: int = 40) -> str:
    """Deterministic 'summary' for after-call notes: the first words of the conversation, tidied."""
    flat = " ".join(text.split())
    parts = flat.split(" ")
    excerpt = " ".join(parts[:words]) + (" ..." if len(parts) > words else "")
    return f"Summary: {excerpt}" if flat else "Summary: (empty conversation)"


SCHEMA_KEYS = ("responseSchema", "response_schema", "responseJsonSchema", "response_json_schema")


def extract(properties: dict[str, Any], texts: list[str], summary: str) -> dict[str, Any]:
    """Deterministic structured output: `summary` gets the summary; any other field gets the words
    that follow its name in the conversation (e.g. "my name is Ada Lovelace" fills `name`), or ""."""
    flat = " ".join(" ".join(texts).split())
    out: dict[str, Any] = {}
    for field_name in properties:
        if field_name == "summary":
            out[field_name] = summary
            continue
        words = field_name.replace("_", " ").lower()
        match = re.search(rf"\b{re.escape(words)}\b(?:\s+(?:is|was|are))?\s+([^.?!\n]{{1,60}})", flat, re.I)
        out[field_name] = " ".join(match.group(1).split()[:6]) if match else ""
    return out


class EmulatorServer:
    """Configuration and shared state of one emulator instance."""

    def __init__(
        self,
        *,
        api_key: str,
        ca_file: str | Path,
        profile: str | Profile = "fast",
        scenario: str | Path | dict[str, Any] | Scenario | None = None,
        max_sessions: int | None = None,
        faults: Faults | None = None,
        keep_records: bool = True,
        **profile_overrides: Any,
    ) -> None:
        """`keep_records`: keep every session's record (`sessions`, with each frame the client sent) for
        the tests that read them in-process. A served emulator (`manage.py gemini_emulator`) has no such
        reader: kept, the records grow with every call, and each full pass of the garbage collector over
        them stops the loop (about 50 ms per 100,000 messages), which its clients see as the model
        answering late."""
        import dataclasses

        self.api_key = api_key
        self.ca_file = str(ca_file)
        base = profile if isinstance(profile, Profile) else get_profile(profile)
        self.profile = dataclasses.replace(base, **profile_overrides) if profile_overrides else base
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario.load(scenario)
        self.phrases = tuple(self.scenario.phrases())
        self.live_models = set(self.scenario.live_models or LIVE_MODELS)
        self.text_models = set(self.scenario.text_models or TEXT_MODELS)
        self.max_sessions = max_sessions if max_sessions is not None else self.profile.default_max_sessions
        self.faults = faults or Faults()
        self.faults.update(self.scenario.faults)
        self.active: dict[str, int] = {}
        self.conversations: dict[str, Any] = {}
        self.sessions: list[SessionRecord] = []
        self.keep_records = keep_records
        self.server: Server | None = None
        self.port = 0
        self.ssl_context: ssl.SSLContext | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Write the CA, warm the recogniser and TTS cache (off the loop), listen; return the port."""
        from .certs import make_server_context

        loop = asyncio.get_running_loop()
        self.ssl_context = await loop.run_in_executor(None, make_server_context, self.ca_file)
        if self.profile.recognize:
            await loop.run_in_executor(None, speech.warm_up)
        else:
            for text in self.scenario.texts():
                await speech.speak(text)
        self.server = await serve(
            self.handler,
            host,
            port,
            ssl=self.ssl_context,
            process_request=self.process_request,
            create_connection=_Connection,
            max_size=16 * 1024 * 1024,
            server_header=None,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    # --- HTTP ---------------------------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        # Not urlsplit(): it would read "//ws/..." as a network location.
        path = re.sub(r"/{2,}", "/", request.path.split("?", 1)[0])
        if request.method == "POST":
            match = REST_PATH.match(path)
            if not match:
                return _google_error(404, "NOT_FOUND", METHOD_NOT_FOUND)
            return self.generate_content(match.group(1), match.group(2), request)
        if request.method != "GET":
            return _google_error(404, "NOT_FOUND", METHOD_NOT_FOUND)
        if "upgrade" not in request.headers.get("Connection", "").lower():
            if path in ("/", "/healthz"):
                return _http(200, "OK", "Gemini emulator\n")
            match = MODELS_PATH.match(path)
            if match:
                return self.models(match.group(1), match.group(2), request)
            return _google_error(404, "NOT_FOUND", METHOD_NOT_FOUND)
        match = LIVE_PATH.match(path)
        if not match:
            return _http(404, "Not Found", "not found\n")
        connection.emulator_route = (match.group(1), _credentials(request))  # type: ignore[attr-defined]
        return None

    def _refuse_key(self, request: Request) -> Response | None:
        """The REST answer to a missing or wrong key, or None when the key is right."""
        key = _credentials(request)
        if not key:
            return _google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if key != self.api_key:
            return _google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
        return None

    def models(self, version: str, model: str | None, request: Request) -> Response:
        """models.list (GET …/models) and models.get (GET …/models/{id}), what clients call at start:
        the allow-listed models in the REST `Model` shape; one page, no nextPageToken."""
        refusal = self._refuse_key(request)
        if refusal is not None:
            return refusal
        if model is None:
            listed = [model_table.listing(m, live=True) for m in sorted(self.live_models)]
            listed += [model_table.listing(m, live=False) for m in sorted(self.text_models)]
            return _http(200, "OK", {"models": listed})
        if model in self.live_models or model in self.text_models:
            return _http(200, "OK", model_table.listing(model, live=model in self.live_models))
        return _google_error(
            404, "NOT_FOUND", f"Model is not found: models/{model} for api version {version}"
        )

    def generate_content(self, version: str, model: str, request: Request) -> Response:
        refusal = self._refuse_key(request)
        if refusal is not None:
            return refusal
        if model not in self.text_models:
            return _google_error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version {version}, or is not supported for "
                "generateContent. Call ListModels to see the list of available models and their "
                "supported methods.",
            )
        try:
            body = json.loads(getattr(request, "body", b"") or b"{}")
        except ValueError:
            return _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
        texts: list[str] = []
        for content in body.get("contents") or []:
            for part in content.get("parts") or []:
                if isinstance(part, dict) and part.get("text"):
                    texts.append(str(part["text"]))
        summary = summarise("\n".join(texts))
        gen = body.get("generationConfig") or body.get("generation_config") or {}
        mime = gen.get("responseMimeType") or gen.get("response_mime_type")
        schema = next((gen[k] for k in SCHEMA_KEYS if isinstance(gen.get(k), dict)), None)
        if mime == "application/json" and schema and isinstance(schema.get("properties"), dict):
            reply = json.dumps(extract(schema["properties"], texts, summary))
        else:
            reply = json.dumps({"summary": summary}) if mime == "application/json" else summary
        prompt_tokens = max(1, int(sum(len(t.split()) for t in texts) * 1.3))
        reply_tokens = max(1, int(len(reply.split()) * 1.3))
        return _http(
            200,
            "OK",
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": reply}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": reply_tokens,
                    "totalTokenCount": prompt_tokens + reply_tokens,
                },
                "modelVersion": model,
                "responseId": uuid.uuid4().hex[:22],
            },
        )

    # --- WebSocket ----------------------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        version, key = getattr(ws, "emulator_route", ("v1beta", None))
        record = SessionRecord(
            path=ws.request.path if ws.request else "",
            headers=dict(ws.request.headers.raw_items()) if ws.request else {},
        )
        if self.keep_records:
            self.sessions.append(record)
        await Session(self, ws, record).run(version, key)
