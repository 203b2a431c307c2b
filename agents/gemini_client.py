"""The google-genai client for this process: API key, Vertex AI, or the local emulator.

One client per process: building the TLS context and HTTP plumbing per call would cost every
caller a few milliseconds for nothing.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

from django.conf import settings
from google import genai
from google.genai import types


class GeminiNotConfigured(RuntimeError):
    """Neither GEMINI_API_KEY nor Vertex AI settings are present."""


@lru_cache(maxsize=4)
def _client(
    api_key: str, base_url: str, api_version: str, ca_file: str, vertex: bool, project: str, location: str
):
    # Passed through to websockets.connect by the SDK: no permessage-deflate (compressing base64
    # audio costs more CPU than the bytes it saves on a call), and a patient keepalive (a 20 s pong
    # timeout caused self-inflicted 1011 closes for a peer, reference peers.md §3).
    ws_args: dict = {"compression": None, "ping_interval": 20, "ping_timeout": 60}
    rest_args: dict = {}
    if ca_file:
        ws_args["ssl"] = ssl.create_default_context(cafile=ca_file)
        rest_args["verify"] = ssl.create_default_context(cafile=ca_file)  # generateContent (after-call jobs)
    if vertex:
        return genai.Client(
            vertexai=True,
            project=project,
            location=location,
            http_options=types.HttpOptions(async_client_args=ws_args),
        )
    if not api_key:
        raise GeminiNotConfigured(
            "GEMINI_API_KEY is not set. Set it, or configure Vertex AI (GOOGLE_GENAI_USE_VERTEXAI=1, "
            "GOOGLE_CLOUD_PROJECT, GOOGLE_APPLICATION_CREDENTIALS), or start the local emulator (./run does)."
        )
    options: dict = {"api_version": api_version, "async_client_args": ws_args, "client_args": rest_args}
    if base_url:
        options["base_url"] = base_url
    return genai.Client(api_key=api_key, http_options=types.HttpOptions(**options))


def get_client() -> genai.Client:
    return _client(
        settings.GEMINI_API_KEY,
        settings.GEMINI_BASE_URL,
        settings.GEMINI_API_VERSION,
        settings.GEMINI_CA_FILE,
        settings.GEMINI_USE_VERTEX,
        settings.GOOGLE_CLOUD_PROJECT,
        settings.GOOGLE_CLOUD_LOCATION,
    )
