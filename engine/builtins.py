"""Built-in tools that reach outside the call, and the outbound opening (campaign greeting, voicemail).

The engine knows no carrier and no campaign: the apps that do register their built-ins here at start-up
(`telephony` registers `send_sms`, `campaigns` registers `schedule_callback`), and every call offers
what is registered. Handlers take the `CallHandle`, the tool and the model's arguments, and raise
`ToolError` with a sentence the model can say. Blocking work (carrier REST, ORM) runs in worker threads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from agents.snapshot import AgentConfig, ToolConfig

if TYPE_CHECKING:
    from .call import CallHandle

log = logging.getLogger(__name__)

VOICEMAIL_DONE = "voicemail: message left"


# --- the opening of an outbound call --------------------------------------------------------------------
def opening_for(agent: AgentConfig, variables: dict[str, Any]) -> tuple[AgentConfig, str | None]:
    """The agent for this call and, when it should hang up after its first turn, why.

    A machine answered and there is a message: the message is the greeting, then hang up.
    A campaign greeting (`_greeting`) replaces the agent's own.
    """
    if variables.get("_answered_by") == "machine" and variables.get("_voicemail"):
        return agent.with_overrides(
            {"greeting": str(variables["_voicemail"]), "consent_announcement": ""}
        ), VOICEMAIL_DONE
    if variables.get("_greeting"):
        return agent.with_overrides({"greeting": str(variables["_greeting"])}), None
    return agent, None


# --- who is on the other end ----------------------------------------------------------------------------
def parties(handle: CallHandle) -> tuple[str, str]:
    """(the other party's number, our number) on this call."""
    request = handle.request
    if request.direction == "outbound":
        return request.to_number, request.from_number
    return request.from_number, request.to_number


# --- when the caller hears a tool's result (`FunctionResponse.scheduling`) --------------------------------
# On models whose calls do not block (3.8) the agent keeps talking while a tool runs; the response says
# how it uses the result: INTERRUPT (stop and say it now), WHEN_IDLE (after the current sentence) or
# SILENT (note it, say nothing). A tool row may override its kind's default (`Tool.scheduling`).
Scheduling = Literal["INTERRUPT", "WHEN_IDLE", "SILENT"]
SCHEDULINGS: tuple[str, ...] = ("INTERRUPT", "WHEN_IDLE", "SILENT")
DEFAULT_SCHEDULING: Scheduling = "WHEN_IDLE"
_scheduling: dict[str, Scheduling] = {
    # The caller said goodbye and the agent may be finishing a sentence; the result asks for the
    # goodbye, which should follow that sentence, not cut it off (and must be heard: never SILENT).
    "end_call": "WHEN_IDLE",
    # Once the carrier has the caller (or the transfer failed), whatever filler the agent is saying
    # ("let me put you through…") is stale: the caller should hear the outcome at once.
    "transfer_call": "INTERRUPT",
    # A warm transfer's outcome ends the hold: the caller waits in silence for the agent to say it.
    "warm_transfer": "INTERRUPT",
    # A webhook's answer is what the caller is waiting for, but told after the current sentence: a
    # mid-word cut sounds broken. An admin picks INTERRUPT or SILENT per tool where that fits better.
    "webhook": "WHEN_IDLE",
}


def scheduling_for(tool: ToolConfig | None) -> Scheduling:
    """The scheduling a response of this tool carries: the tool's own choice, else its kind's default."""
    if tool is None:
        return DEFAULT_SCHEDULING
    if tool.scheduling in SCHEDULINGS:
        return tool.scheduling  # type: ignore[return-value]
    return _scheduling.get(tool.kind, DEFAULT_SCHEDULING)


# --- built-ins provided by the apps above the engine -----------------------------------------------------
Builtin = Callable[["CallHandle", ToolConfig, dict[str, Any]], Awaitable[dict[str, Any]]]
_registered: dict[str, Builtin] = {}


def register(kind: str, handler: Builtin, scheduling: Scheduling = DEFAULT_SCHEDULING) -> None:
    """Offer a built-in tool kind on every call (called from an app's `ready()`), with the scheduling
    its results carry unless a tool row says otherwise."""
    _registered[kind] = handler
    _scheduling[kind] = scheduling


def registered() -> dict[str, Builtin]:
    """The built-in tool kinds other apps provide, by tool kind."""
    return dict(_registered)
