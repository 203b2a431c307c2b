"""After-call notes: a short summary and the agent's extract fields, from a Gemini text model.

Runs in a Celery task (`calls.tasks.after_call`), through the same google-genai client as the
calls (the emulator serves `generateContent` deterministically for it).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from google.genai import types

from agents.gemini_client import get_client

INSTRUCTIONS = (
    "You write notes about a finished phone call between a caller and a voice agent. "
    "Give a summary of two or three sentences, and fill each other field from what was said; "
    "leave a field empty when the call did not say it. The user message is the transcript."
)


def summarize(transcript: str, fields: list[str]) -> tuple[str, dict[str, Any]]:
    """(summary, {field: value}) for a transcript; raises on a Gemini error."""
    properties = {"summary": types.Schema(type=types.Type.STRING)}
    properties.update({name: types.Schema(type=types.Type.STRING) for name in fields})
    response = get_client().models.generate_content(
        model=settings.GEMINI_SUMMARY_MODEL,
        contents=transcript,
        config=types.GenerateContentConfig(
            system_instruction=INSTRUCTIONS,
            response_mime_type="application/json",
            response_schema=types.Schema(
                type=types.Type.OBJECT, properties=properties, required=list(properties)
            ),
            temperature=0.0,
        ),
    )
    data = json.loads(response.text or "{}")
    if not isinstance(data, dict):
        raise ValueError("the summary is not a JSON object")
    return str(data.get("summary", "")), {name: data.get(name, "") for name in fields}
