"""Run an agent's test cases: each a simulated caller through the whole engine, like `democall`.

A case's caller lines are spoken with the offline voice (flite) on a loopback line, each after the
agent has finished its turn; the call goes to the agent by id (carrier "test") on its published
version or its draft, against the configured Gemini (the real service with a key, the emulator
offline), and is stored like any call. The verdict is read from what was stored: the transcript,
the tool invocations, how the call ended and its metrics.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async

from agents.models import Agent, AgentTestCase, AgentTestRun, Carrier
from calls.models import Call
from engine import CallRequest, start_call

from .loopback import LoopbackPort, SimulatedCaller
from .persona import PersonaCaller

log = logging.getLogger(__name__)

QUIET_S = 0.8  # the agent's turn is over after this much silence from it
TURN_TIMEOUT_S = 25.0
STORE_TIMEOUT_S = 15.0


@dataclass
class CaseResult:
    case: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    call_id: str = ""


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


async def _place(agent: Agent, case: AgentTestCase, draft: bool) -> str:
    port = LoopbackPort()
    request = CallRequest(
        carrier=Carrier.TEST,
        from_number="agent-test",
        to_number=case.name[:30],
        variables={"agent_id": agent.pk, "_draft": draft, "test_case": case.name},
    )
    handle = await start_call(request, port)
    caller = SimulatedCaller(handle, port.wire)
    if handle.accepted and case.persona.strip():
        try:
            await PersonaCaller(handle, port, case.persona, case.lines("caller_lines")).run()
        except Exception as exc:  # noqa: BLE001 - the case fails and says why; the run goes on
            log.warning("persona caller for %r failed: %s", case.name, exc)
            if not port.hung_up.is_set():
                handle.remote_hangup(f"persona caller failed: {exc}"[:200])
    elif handle.accepted:
        await caller.wait_for_agent(port, QUIET_S, TURN_TIMEOUT_S)  # the greeting, if any
        for line in case.lines("caller_lines"):
            if port.hung_up.is_set():
                break
            before = port.frames  # the reply is what the agent sends after this line began
            await caller.say(line, then_silence=0.3)
            await caller.wait_for_agent(port, QUIET_S, TURN_TIMEOUT_S, since=before)
        if not port.hung_up.is_set():
            handle.remote_hangup("test caller hung up")
    await handle.wait()
    return str(handle.call_id)


def _stored(call_id: str) -> Call | None:
    deadline = time.monotonic() + STORE_TIMEOUT_S
    while time.monotonic() < deadline:
        call = Call.objects.filter(pk=call_id, metrics__final=True).select_related("metrics").first()
        if call is not None:
            return call
        time.sleep(0.2)
    return None


def judge(case: AgentTestCase, call: Call | None) -> list[str]:
    """What did not hold, in words a person can act on (empty: the case passed)."""
    if call is None:
        return ["the call's records were never stored"]
    failures: list[str] = []
    if call.status != Call.Status.COMPLETED:
        failures.append(f"the call {call.status}: {call.end_reason}")
    said = _words(" ".join(call.segments.filter(speaker="agent").values_list("text", flat=True)))
    failures += [f"never said {p!r}" for p in case.lines("must_say") if _words(p) not in said]
    failures += [f"said {p!r}" for p in case.lines("must_not_say") if _words(p) in f" {said} "]
    if case.tool_called:
        calls = list(call.tool_invocations.filter(tool_name=case.tool_called, cancelled=False))
        if not calls:
            failures.append(f"never called {case.tool_called}")
        elif case.tool_arguments and not any(
            all(str(c.arguments.get(k)) == str(v) for k, v in case.tool_arguments.items()) for c in calls
        ):
            failures.append(f"called {case.tool_called} with {calls[0].arguments}, not {case.tool_arguments}")
    if case.ending == AgentTestCase.Ending.AGENT_ENDS and not call.end_reason.startswith(
        "agent ended the call"
    ):
        failures.append(f"the agent did not end the call (ended: {call.end_reason})")
    if case.ending == AgentTestCase.Ending.TRANSFER and not call.end_reason.startswith("transferred to"):
        failures.append(f"the agent did not transfer the call (ended: {call.end_reason})")
    metrics = call.metrics
    if case.max_turns is not None and metrics.turns > case.max_turns:
        failures.append(f"took {metrics.turns} agent turns (at most {case.max_turns})")
    if case.max_first_response_ms is not None:
        first = metrics.first_response_ms
        if first is None or first > case.max_first_response_ms:
            failures.append(f"first response {first} ms (at most {case.max_first_response_ms} ms)")
    return failures


async def run_suite(agent: Agent, draft: bool, only: str | None = None) -> AgentTestRun:
    """Run the agent's active cases one after another and store the run."""
    cases = await sync_to_async(list)(
        agent.test_cases.filter(is_active=True, **({"name": only} if only else {})).order_by("name")
    )
    results = []
    for case in cases:
        call_id = await _place(agent, case, draft)
        call = await sync_to_async(_stored)(call_id)
        failures = await sync_to_async(judge)(case, call)
        results.append(CaseResult(case.name, not failures, failures, call_id))
    version = "draft" if draft or agent.published_version_id is None else f"v{agent.published_version.number}"
    return await sync_to_async(AgentTestRun.objects.create)(
        agent=agent,
        version=version,
        passed=bool(results) and all(r.passed for r in results),
        results=[r.__dict__ for r in results],
    )
