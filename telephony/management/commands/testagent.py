"""`manage.py testagent AGENT [--version draft|published]`: run an agent's test cases; exit 1 on failure.

For CI pipelines of your own: write the cases in the admin (Agents → Agent test cases), then run
this against the configured Gemini (or the offline emulator) before publishing a change.
"""

from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand, CommandError

from agents.models import Agent
from telephony.agent_tests import run_suite


class Command(BaseCommand):
    help = "Run an agent's simulated-caller test cases through the engine; exit 1 if any fails."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Our --version picks the agent's version; it replaces Django's (which prints Django's).
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("agent", help="The agent's name or id")
        parser.add_argument(
            "--version",
            choices=["published", "draft"],
            default="published",
            help="Test what calls use now (published) or the unpublished edits (draft)",
        )
        parser.add_argument("--case", help="Run only the case with this name")

    def handle(self, *args, agent: str, version: str, case: str | None, **options):
        row = Agent.objects.select_related("published_version").filter(
            **({"pk": int(agent)} if agent.isdigit() else {"name": agent})
        ).first()
        if row is None:
            raise CommandError(f"No agent {agent!r}: give its name (as in the admin) or its id.")
        if not row.test_cases.filter(is_active=True, **({"name": case} if case else {})).exists():
            raise CommandError(
                f"{row.name} has no active test case{f' named {case!r}' if case else ''}: "
                "add some in the admin (Agents → Agent test cases)."
            )
        run = asyncio.run(run_suite(row, version == "draft", case))
        for result in run.results:
            mark = "PASS" if result["passed"] else "FAIL"
            self.stdout.write(f"{mark}  {result['case']}  (call {result['call_id']})")
            for failure in result["failures"]:
                self.stdout.write(f"      - {failure}")
        self.stdout.write(f"{row.name} {run.version}: {run.summary}")
        if not run.passed:
            raise CommandError(f"{row.name} {run.version} failed its tests ({run.summary}).")
