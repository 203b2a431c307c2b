"""Draft, publish, compare, roll back: the life of an agent's configuration.

The agent row is the draft: editing it in the admin changes nothing for callers until someone
publishes it, which freezes its configuration as the next `AgentVersion` and points the agent at
it. Rolling back points the agent at an older version again (the draft is left as it is). Calls
record the version they ran on. An agent never published runs on its row as edited, as before
versions existed.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.db import transaction
from django.db.models import Max

from .models import Agent, AgentVersion
from .snapshot import AgentConfig, snapshot

# Fields shown in a diff as "name: value" lines; the prompt and the greeting are diffed line by line.
_TEXTS = ("system_prompt", "ai_disclosure", "consent_announcement", "greeting")
_IGNORED = {"agent_id"}


def draft_config(agent: Agent) -> dict[str, Any]:
    """The configuration the agent row holds now, as a version would store it."""
    return snapshot(agent, draft=True).to_json()


def draft_differs(agent: Agent) -> bool:
    """Whether publishing would change what calls run on."""
    version = agent.published_version
    return version is None or _comparable(version.config) != _comparable(draft_config(agent))


@transaction.atomic
def publish(agent: Agent, by: str = "", note: str = "") -> AgentVersion:
    """Freeze the draft as the next version and make it the one calls use."""
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    number = (agent.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = AgentVersion.objects.create(
        agent=agent, number=number, config=draft_config(agent), note=note[:200], created_by=by
    )
    Agent.objects.filter(pk=agent.pk).update(published_version=version)
    return version


def draft_test_problem(agent: Agent) -> str:
    """What is wrong with the draft's tests ("" when it has no active cases, or passed them since its
    last edit)."""
    if not agent.test_cases.filter(is_active=True).exists():
        return ""
    run = agent.test_runs.filter(version="draft").order_by("-started_at").first()
    if run is None or run.started_at < agent.updated_at:
        return "the draft has not been tested since its last edit"
    if not run.passed:
        return f"the draft failed its tests ({run.summary})"
    return ""


def untested_warning(agent: Agent) -> str:
    """Why publishing the draft now is a risk, or "" (agents that do not require passing tests
    publish anyway, with this warning)."""
    problem = draft_test_problem(agent)
    if not problem:
        return ""
    return (
        f"Published although {problem}: run manage.py testagent {agent.pk} --version draft first next time."
    )


def roll_back(version: AgentVersion) -> None:
    """Make an earlier (or any) version the one calls use; the draft is not touched."""
    Agent.objects.filter(pk=version.agent_id).update(published_version=version)


def diff(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> list[str]:
    """A readable unified diff of two configurations: texts line by line, settings one per line."""
    return list(
        difflib.unified_diff(_lines(old), _lines(new), fromfile=old_name, tofile=new_name, lineterm="")
    )


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    if not config:  # nothing published yet: the draft is all additions
        return {}
    return {k: v for k, v in AgentConfig.from_json(config).to_json().items() if k not in _IGNORED}


def _lines(config: dict[str, Any]) -> list[str]:
    data = _comparable(config)
    lines: list[str] = []
    for name in _TEXTS:
        lines.append(f"{name}:")
        lines += [f"    {line}" for line in str(data.pop(name, "")).splitlines() or [""]]
    tools = data.pop("tools", [])
    for name in sorted(data):
        lines.append(f"{name}: {json.dumps(data[name])}")
    for tool in tools:
        tool.pop("tool_id", None)
        lines.append(f"tool {tool.get('name')}: {json.dumps(tool, sort_keys=True)}")
    return lines
