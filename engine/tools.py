"""The one dispatch point for tool calls, and the built-in and webhook tools behind it.

Each call runs as its own task, so a slow webhook never holds audio; each ends in a
`toolResponse` (an unknown tool or a failure answers with an error the model can speak about,
never a stuck call) and a ToolInvocation record.

Every response says how it went: `{"status": "ok", "output": …}` or `{"status": "error", "error": …,
"retryable": bool}`, so the model knows whether trying again could help (a timeout or a 5xx may pass
next time; a 4xx or a bad argument will not).

Gemini 3.8 is documented to repeat back-to-back identical function calls: an identical call (same
name and arguments) within one model turn runs once, and its repeats are answered from that result
(counted on the one ToolInvocation as `repeats`), so a webhook never books an order twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from agents.signing import sign
from agents.snapshot import ToolConfig

log = logging.getLogger(__name__)

Handler = Callable[[ToolConfig, dict[str, Any]], Awaitable[dict[str, Any]]]


class ToolError(Exception):
    """A tool failed in a way the model should hear about; `retryable` when the same call may work if
    tried again (a timeout, an unreachable service, a 5xx), not when the call itself is wrong."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def ok(output: dict[str, Any] | None) -> dict[str, Any]:
    """The response of a tool that worked."""
    return {"status": "ok", "output": output}


def failed(error: str, retryable: bool) -> dict[str, Any]:
    """The response of a tool that failed."""
    return {"status": "error", "error": error, "retryable": retryable}


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
        raise ToolError(
            f"the {tool.name} service did not answer within {tool.timeout_seconds:g} s", retryable=True
        ) from exc
    except httpx.HTTPError as exc:
        raise ToolError(f"the {tool.name} service could not be reached", retryable=True) from exc
    if response.status_code >= 400:
        # 5xx: the service's own trouble, may pass; 4xx: it refused this request, and would again.
        raise ToolError(
            f"the {tool.name} service failed (HTTP {response.status_code})",
            retryable=response.status_code >= 500,
        )
    try:
        data = response.json()
    except ValueError as exc:
        raise ToolError(f"the {tool.name} service answered with something that is not JSON") from exc
    return data if isinstance(data, dict) else {"result": data}


@dataclass
class _Run:
    """One executed call: its outcome (the response sent, None if cancelled) and its record."""

    outcome: asyncio.Future
    record: dict[str, Any]


class ToolDispatcher:
    """Runs tool calls for one call. Built-ins are provided by the call (`builtins`)."""

    def __init__(
        self,
        tools: tuple[ToolConfig, ...],
        builtins: dict[str, Handler],
        context: dict[str, Any],
        on_done: Callable[[dict[str, Any]], None] | None = None,
        collect_digits: Callable[[ToolConfig], Awaitable[str]] | None = None,
    ):
        self._by_name = {t.name: t for t in tools}
        self._on_done = on_done  # each finished invocation, to be stored during the call
        self._collect_digits = collect_digits  # secure entry: the caller's keyed digits, for one tool
        self._builtins = builtins
        self._context = context
        self.invocations: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task] = set()
        self._by_call_id: dict[str, asyncio.Task] = {}  # running calls, by Gemini's call id
        self._cancelled: set[str] = set()
        self._this_turn: dict[tuple[str, str], _Run] = {}  # identical calls of the current model turn

    def tool(self, name: str) -> ToolConfig | None:
        return self._by_name.get(name)

    def new_turn(self) -> None:
        """The model's turn is over: an identical call from now on is a new request, and runs."""
        self._this_turn.clear()

    def submit(
        self, call_id: str, name: str, args: dict[str, Any], respond: Callable[[dict], Awaitable[None]]
    ):
        args = args or {}
        key = (name, json.dumps(args, sort_keys=True, default=str))
        first = self._this_turn.get(key)
        if first is not None:
            coro = self._repeat(call_id, first, respond)
        else:
            run = _Run(asyncio.get_running_loop().create_future(), {})
            self._this_turn[key] = run
            coro = self._run(call_id, name, args, respond, run)
        task = asyncio.create_task(coro, name=f"tool:{name}:{call_id}")
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

    async def _repeat(self, call_id: str, first: _Run, respond: Callable[[dict], Awaitable[None]]) -> None:
        """An identical call in the same turn: answered with the first one's response, not run again."""
        first.record["repeats"] = first.record.get("repeats", 0) + 1
        try:
            response = await asyncio.shield(first.outcome)
        except asyncio.CancelledError:
            if call_id in self._cancelled:
                return  # Gemini dropped this repeat
            raise
        if response is not None:  # None: the first was cancelled, and its repeats with it
            log.info("tool call %s repeats an identical call: answered from its result", call_id)
            await respond(response)

    async def _run(
        self, call_id: str, name: str, args: dict, respond: Callable[[dict], Awaitable[None]], run: _Run
    ) -> None:
        started = time.perf_counter()
        tool = self._by_name.get(name)
        result: dict[str, Any] | None = None
        error = ""
        retryable = False
        cancelled = False
        try:
            if tool is None:
                raise ToolError(f"there is no tool called {name!r}")
            check_arguments(tool.declaration().get("parameters") or {}, args)
            if tool.kind == "webhook" and tool.secure_entry and self._collect_digits is not None:
                # The digits go to the webhook only: not into `args`, which are stored and shown.
                digits = await self._collect_digits(tool)
                result = await call_webhook(tool, {**args, "digits": digits}, self._context)
            elif tool.kind == "webhook":
                result = await call_webhook(tool, args, self._context)
            elif tool.kind in self._builtins:
                result = await self._builtins[tool.kind](tool, args)
            else:
                raise ToolError(f"{name} is not available on this call")
        except ToolError as exc:
            error, retryable = str(exc), exc.retryable
        except asyncio.CancelledError:
            if call_id not in self._cancelled:
                run.outcome.cancel()
                raise  # the call itself is ending
            cancelled = True
            error = "cancelled by Gemini (toolCallCancellation): the caller interrupted"
        except Exception as exc:  # noqa: BLE001 - never leave the model waiting
            log.exception("tool %s crashed", name)
            error = f"{name} failed unexpectedly ({type(exc).__name__})"
        latency = (time.perf_counter() - started) * 1000
        run.record.update(
            {
                "seq": len(self.invocations),
                "tool_name": name,
                "tool_id": tool.tool_id if tool else None,
                "gemini_call_id": call_id,
                "arguments": args,
                "result": result,
                "error": error,
                "retryable": retryable,
                "latency_ms": round(latency, 1),
                "cancelled": cancelled,
                "repeats": run.record.get("repeats", 0),
            }
        )
        self.invocations.append(run.record)
        if self._on_done is not None:
            self._on_done(run.record)
        log.info("tool %s → %s (%.0f ms)", name, "error: " + error if error else "ok", latency)
        if cancelled:
            run.outcome.set_result(None)
            return  # Gemini dropped this call; a response to its id would be ignored
        response = failed(error, retryable) if error else ok(result)
        run.outcome.set_result(response)
        await respond(response)

    @property
    def busy(self) -> bool:
        """A tool call is still running (its response has not been sent)."""
        return bool(self._tasks)

    def abandon(self) -> None:
        """The call is over: cancel tool calls still running (their responses have nowhere to go)."""
        for task in list(self._tasks):
            task.cancel()

    async def wait_idle(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
