"""What the carrier-level warm transfer tests share: the scripted model's rule and the Sales target.

The person dialled is modelled by each emulator from the destination (emulators/carrier/dialled_person.py):
…01 accepts, …02 declines, …03 never answers, …04 is busy.
"""

from __future__ import annotations

import pytest

CALLER = "+14155550177"
ASK = "can i speak to a person"
REASON = "a billing question"
SUMMARY = "The caller was charged twice for order A12345."
RULE = {
    "keywords": ["person"],
    "phrases": [ASK],
    "call": {"name": "warm_transfer", "args": {"target": "Sales", "reason": REASON, "summary": SUMMARY}},
    "after_tool": "The transfer outcome is {outcome}.",
    "fallback": "I cannot transfer you.",
}


def after_tool_line(outcome: str) -> str:
    """The agent's line once the model has the outcome (the emulator's transcription is the text)."""
    return f"The transfer outcome is {outcome}."


@pytest.fixture
def transfer_rule(gemini_emulator):
    """The emulated model calls warm_transfer (target Sales) when the caller asks for a person."""
    gemini_emulator.server.scenario.keywords.insert(0, RULE)
    yield RULE
    gemini_emulator.server.scenario.keywords.remove(RULE)


def add_sales(agent, destination: str) -> None:
    """Give `agent` the warm_transfer tool and one target, Sales, at `destination` (always open)."""
    from agents.models import Tool, TransferTarget

    tool, _ = Tool.objects.get_or_create(
        name="warm_transfer", kind="warm_transfer", defaults={"description": "Hand the caller to a person."}
    )
    agent.tools.add(tool)
    TransferTarget.objects.create(agent=agent, name="Sales", destination=destination)
