"""Logging helpers: the call id on every line logged during a call, and a JSON formatter.

The call id lives in a context variable, so every coroutine (and thread started with
`contextvars.copy_context`) working for a call logs it without passing it around.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

current_call_id: contextvars.ContextVar[str] = contextvars.ContextVar("current_call_id", default="-")


@contextmanager
def call_context(call_id: str) -> Iterator[None]:
    """Tag every log line in this block (and tasks it creates) with `call_id`."""
    token = current_call_id.set(str(call_id))
    try:
        yield
    finally:
        current_call_id.reset(token)


class CallContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call_id"):
            record.call_id = current_call_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "call_id": getattr(record, "call_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload)
