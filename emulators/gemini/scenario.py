"""Scenarios: what the emulated model says, chosen per turn number first, then per recognised keyword.

A scenario is a small JSON file (default: default_scenario.json next to this module):
  turns:       {"<n>": rule}      rule for the caller's n-th turn (1-based; survives resumption)
  keywords:    [rule + {"keywords": [...], "phrases": [...]}]   first rule whose keyword is heard wins
  default_reply: text when nothing matches
  phrases:     extra phrases for the recognition grammar
  faults:      initial fault settings (see faults.Faults)
  live_models / text_models: optional allow-lists replacing the defaults
  guidance:    [{"keywords": [...], "reply": text}]  when no turn or keyword rule matched, the first
               rule with a keyword in the system instruction in force (a supervisor's whisper, sent
               as contextUpdate) says its reply: the scripted stand-in for "the model follows it"
Talking points: a system instruction with a "Say, in order:" list (numbered lines, as `testagent`'s
persona callers send) makes the scripted model say item n on turn n and nothing after the last: the
stand-in for a model playing a caller with a goal. It takes precedence over the scenario's rules.
A rule: {"reply": text, "call": {"name", "args", "repeat"?}, "after_tool": text, "fallback": text}; `repeat`
sends the identical call that many times back to back, as 3.8 is documented to do. When the call's
function was not declared by the session, the emulator says `fallback` (or `reply`, or `after_tool`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from .speech import normalise_words

DEFAULT_PATH = Path(__file__).with_name("default_scenario.json")


@dataclasses.dataclass
class Plan:
    """What to do for one caller turn."""

    reply: str | None = None
    call_name: str | None = None
    call_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    after_tool: str | None = None
    repeat: int = 1  # send the same call this many times back to back (3.8 is documented to repeat)


class Scenario:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.turns: dict[str, dict[str, Any]] = {
            str(k): (v if isinstance(v, dict) else {"reply": v}) for k, v in data.get("turns", {}).items()
        }
        self.keywords: list[dict[str, Any]] = list(data.get("keywords", []))
        self.guidance: list[dict[str, Any]] = list(data.get("guidance", []))
        self.default_reply: str = data.get("default_reply", "I see. Could you tell me more about that?")
        self.faults: dict[str, Any] = dict(data.get("faults", {}))
        self.live_models: list[str] | None = data.get("live_models")
        self.text_models: list[str] | None = data.get("text_models")

    @classmethod
    def load(cls, source: str | Path | dict[str, Any] | None = None) -> Scenario:
        """Load from a dict, a JSON file path, or the default scenario."""
        if isinstance(source, dict):
            return cls(source)
        return cls(json.loads(Path(source or DEFAULT_PATH).read_text()))

    def phrases(self) -> list[str]:
        """Every phrase the grammar should know: keyword phrases, the keywords themselves, extras."""
        out: list[str] = list(self.data.get("phrases", []))
        for rule in self.keywords:
            out += rule.get("phrases", []) + rule.get("keywords", [])
        for rule in self.turns.values():
            out += rule.get("phrases", [])
        return out

    def texts(self) -> list[str]:
        """Every sentence the scenario can say (pre-synthesised by the bench profile)."""
        out = [self.default_reply]
        for rule in [*self.keywords, *self.turns.values(), *self.guidance]:
            out += [rule[k] for k in ("reply", "after_tool", "fallback") if rule.get(k)]
        return out

    def plan(self, turn: int, heard: str, declared: set[str], instruction: str = "") -> Plan:
        """Choose the reply for the caller's turn `turn` that was heard as `heard`."""
        points = talking_points(instruction)
        if points:
            return Plan(reply=points[turn - 1] if turn <= len(points) else "")
        rule = self.turns.get(str(turn))
        if rule is None:
            words = f" {normalise_words(heard)} "
            for candidate in self.keywords:
                if any(f" {normalise_words(k)} " in words for k in candidate.get("keywords", [])):
                    rule = candidate
                    break
        if rule is None and instruction:
            told = f" {normalise_words(instruction)} "
            for candidate in self.guidance:
                if any(f" {normalise_words(k)} " in told for k in candidate.get("keywords", [])):
                    return Plan(reply=candidate.get("reply") or self.default_reply)
        if rule is None:
            return Plan(reply=self.default_reply)
        call = rule.get("call")
        if call and call.get("name") in declared:
            return Plan(
                reply=rule.get("reply"),
                call_name=call["name"],
                call_args=dict(call.get("args", {})),
                after_tool=rule.get("after_tool"),
                repeat=max(1, int(call.get("repeat", 1))),
            )
        text = rule.get("fallback") or rule.get("reply") or rule.get("after_tool") or self.default_reply
        return Plan(reply=text)


_POINTS = re.compile(r"^Say, in order:\s*$((?:\n\s*\d+\.\s+.+$)+)", re.MULTILINE)


def talking_points(instruction: str) -> list[str]:
    """The numbered lines after "Say, in order:" in a system instruction, if any."""
    found = _POINTS.search(instruction or "")
    if not found:
        return []
    return [re.sub(r"^\s*\d+\.\s+", "", line).strip() for line in found.group(1).strip().splitlines()]


def fill(template: str, response: Any) -> str:
    """Fill {placeholders} in after_tool text from the tool response's top-level fields, or else from
    its `output` (a built-in's result, e.g. a warm transfer's {outcome})."""
    values = response if isinstance(response, dict) else {}
    output = values.get("output")
    if isinstance(output, dict):
        values = {**output, **values}
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "unknown")), template)
