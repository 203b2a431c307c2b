"""The one dispatch point for tool calls, and the built-in and webhook tools behind it.

Each call runs as its own task, so a slow webhook never holds audio; each ends in a
`toolResponse` (an unknown tool or a failure answers with an error the model can speak about,
never a stuck call) and a ToolInvocation record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from agents.signing import sign
from agents.snapshot import ToolConfig

log = logging.getLogger(__name__)

Handler = Callable[[ToolConfig, dict[str, Any]], Awaitable[dict[str, Any]]]

# How the model uses a tool's result on models with non-blocking calls (`FunctionResponse.scheduling`).
# Every result here is something the caller should hear (end_call's asks for the goodbye), told once the
# model has finished its current sentence rather than cutting itself off: WHEN_IDLE, never SILENT.
# Per-tool choices (INTERRUPT for urgent results) are not offered yet.
DEFAULT_SCHEDULING = "WHEN_IDLE"


def scheduling_for(tool: ToolConfig | None) -> str:
    """The `scheduling` a response of this tool carries (SILENT | WHEN_IDLE | INTERRUPT)."""
    return DEFAULT_SCHEDULING


class ToolError(Exception):
    """A tool failed in a way the model should hear about."""


def check_arguments(schema: dict[str, Any], args: dict[str, Any]) -> None:
    """Validate the model's arguments against the tool's schema (types, required, enums)."""
    if not schema:
        return
    props = schema.get("properties") or {}
    missing = [name for name in schema.get("required") or [] if name not in args]
    if missing:
        raise ToolError(f"missing required argument(s): {', '.join(missing)}")
    types_ok = {
        "STRING": str, "INTEGER": int, "NUMBER": (int, float), "BOOLEAN": bool, "ARRAY": list, "OBJECT": dict,
    }  # fmt: skip
    for name, value in args.items():
        spec = props.get(name)
        if spec is None:
            continue
        expected = types_ok.get(str(spec.get("type", "")).upper())
        if expected and not isinstance(value, expected):
            raise ToolError(f"argument {name!r} should be {spec['type'].lower()}, got {type(value).__name__}")
        if spec.get("enum") and value not in spec["enum"]:
            raise ToolError(f"argument {name!r} must be one of {', '.join(map(str, spec['enum']))}")


async def call_webhook(tool: ToolConfig, args: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"tool": tool.name, "arguments": args, "call": context}, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if tool.secret:
        headers["X-Signature"] = sign(tool.secret, body)
    try:
        async with httpx.AsyncClient(timeout=tool.timeout_seconds) as http:
            response = await http.post(tool.url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise ToolError(f"the {tool.name} service did not answer within {tool.timeout_seconds:g} s") from exc
    except httpx.HTTPError as exc:
        raise ToolError(f"the {tool.name} service could not be reached") from exc
    if response.status_code >= 400:
        raise ToolError(f"the {tool.name} service failed (HTTP {response.status_code})")
    try:
        data = response.json()
    except ValueError as exc:
        raise ToolError(f"the {tool.name} service answered with something that is not JSON") from exc
    return data if isinstance(data, dict) else {"result": data}


class ToolDispatcher:
    """Runs tool calls for one call. Built-ins are provided by the call (`builtins`)."""

    def __init__(
        self,
        tools: tuple[ToolConfig, ...],
        builtins: dict[str, Handler],
        context: dict[str, Any],
        on_done: Callable[[dict[str, Any]], None] | None = None,
    ):
        self._by_name = {t.name: t for t in tools}
        self._on_done = on_done  # each finished invocation, to be stored during the call
        self._builtins = builtins
        self._context = context
        self.invocations: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task] = set()
        self._by_call_id: dict[str, asyncio.Task] = {}  # running calls, by Gemini's call id
        self._cancelled: set[str] = set()

    def tool(self, name: str) -> ToolConfig | None:
        return self._by_name.get(name)

    def submit(
        self, call_id: str, name: str, args: dict[str, Any], respond: Callable[[dict], Awaitable[None]]
    ):
        task = asyncio.create_task(
            self._run(call_id, name, args or {}, respond), name=f"tool:{name}:{call_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if call_id:
            self._by_call_id[call_id] = task
            task.add_done_callback(lambda _t: self._by_call_id.pop(call_id, None))

    def cancel(self, ids: list[str]) -> None:
        """Gemini's toolCallCancellation: stop the named calls still running (the caller interrupted
        the turn that asked for them); each is recorded as cancelled and gets no response."""
        for call_id in ids:
            task = self._by_call_id.get(call_id)
            if task is not None and not task.done():
                self._cancelled.add(call_id)
                task.cancel()

    async def _run(
        self, call_id: str, name: str, args: dict, respond: Callable[[dict], Awaitable[None]]
    ) -> None:
        started = time.perf_counter()
        tool = self._by_name.get(name)
        result: dict[str, Any] | None = None
        error = ""
        cancelled = False
        try:
            if tool is None:
                raise ToolError(f"there is no tool called {name!r}")
            check_arguments(tool.declaration().get("parameters") or {}, args)
            if tool.kind == "webhook":
                result = await call_webhook(tool, args, self._context)
            elif tool.kind in self._builtins:
                result = await self._builtins[tool.kind](tool, args)
            else:
                raise ToolError(f"{name} is not available on this call")
        except ToolError as exc:
            error = str(exc)
        except asyncio.CancelledError:
            if call_id not in self._cancelled:
                raise  # the call itself is ending
            cancelled = True
            error = "cancelled by Gemini (toolCallCancellation): the caller interrupted"
        except Exception as exc:  # noqa: BLE001 - never leave the model waiting
            log.exception("tool %s crashed", name)
            error = f"{name} failed unexpectedly ({type(exc).__name__})"
        latency = (time.perf_counter() - started) * 1000
        invocation = {
                "seq": len(self.invocations),
                "tool_name": name,
                "tool_id": tool.tool_id if tool else None,
                "gemini_call_id": call_id,
                "arguments": args,
                "result": result,
                "error": error,
                "latency_ms": round(latency, 1),
                "cancelled": cancelled,
        }  # fmt: skip
        self.invocations.append(invocation)
        if self._on_done is not None:
            self._on_done(invocation)
        log.info("tool %s → %s (%.0f ms)", name, "error: " + error if error else "ok", latency)
        if cancelled:
            return  # Gemini dropped this call; a response to its id would be ignored
        await respond({"error": error} if error else {"output": result})

    @property
    def busy(self) -> bool:
        """A tool call is still running (its response has not been sent)."""
        return bool(self._tasks)

    async def wait_idle(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
