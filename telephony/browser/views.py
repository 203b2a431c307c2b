"""The test-call page: staff talk to an agent from the browser before a number is bound to it."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from agents.models import Agent
from calls.dashboard.access import staff_required


@staff_required
def call_page(request, agent_id: int):
    agent = get_object_or_404(Agent, pk=agent_id)
    return render(request, "browser/call.html", {"agent": agent, "ws_path": f"/ws/browser/{agent.pk}/"})
