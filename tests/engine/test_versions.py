"""Agent versions through the admin and real calls: editing is a draft, publishing changes what the
next call runs on, the call records its version, and one click rolls back.

Real SDK + the Gemini emulator + the loopback line (`start_call`), the admin's own views over HTTP.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from agents.models import Agent

from .test_engine import segments, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

FIRST = "Hello, thanks for calling Example Corp. How can I help?"
SECOND = "Good morning, you are through to Example Corp support."


async def greeting_heard(dial) -> tuple[str, int | None]:
    """Place a call, let the agent greet, hang up: (the greeting as stored, the version number)."""
    line = await dial()
    await line.wait_for_audio(0.5)
    await line.wait_quiet()
    await line.hang_up_and_wait()
    call = await stored(line.handle.call_id)
    lines = await sync_to_async(segments)(call.id)
    version = await sync_to_async(lambda: call.agent_version.number if call.agent_version else None)()
    return next(text for speaker, text in lines if speaker == "agent"), version


async def test_edit_publish_compare_and_roll_back(demo_agent, dial, django_user_model):
    """Thrown at it: a greeting edited after v1 was published. Holds: calls keep v1's greeting until
    the draft is published (the versions page shows the change), then use v2; "Use this version" on
    v1 brings the first greeting back; every call records the version it ran on."""
    admin = Client()
    await sync_to_async(admin.force_login)(
        await sync_to_async(django_user_model.objects.create_superuser)("boss", "b@example.com", "pw")
    )
    base = f"/admin/agents/agent/{demo_agent.pk}"
    assert (await greeting_heard(dial)) == (FIRST, None)  # never published: the row as saved

    published = await sync_to_async(admin.post)(f"{base}/publish/", {"note": "first"}, follow=True)
    assert "Published v1" in published.content.decode()
    await sync_to_async(Agent.objects.filter(pk=demo_agent.pk).update)(greeting=SECOND)
    page = (await sync_to_async(admin.get)(f"{base}/versions/")).content.decode()
    assert f"-    {FIRST}" in page and f"+    {SECOND}" in page and "Publish the draft" in page
    change = (await sync_to_async(admin.get)(f"{base}/change/")).content.decode()
    assert "draft that differs" in change
    assert (await greeting_heard(dial)) == (FIRST, 1)  # the edit is only a draft

    await sync_to_async(admin.post)(f"{base}/publish/", {"note": "new greeting"})
    assert (await greeting_heard(dial)) == (SECOND, 2)

    rolled = await sync_to_async(admin.post)(f"{base}/versions/1/use/", follow=True)
    assert "use v1 again" in rolled.content.decode()
    assert (await greeting_heard(dial)) == (FIRST, 1)
    page = (await sync_to_async(admin.get)(f"{base}/versions/")).content.decode()
    assert 'id="v1"' in page and "v1 <strong>(in use)</strong>" in page
    last = await sync_to_async(lambda: demo_agent.calls.order_by("-started_at").first())()
    call_page = (await sync_to_async(admin.get)(f"/calls/{last.pk}/")).content.decode()
    assert 'id="agent-version"' in call_page and f"{base}/versions/#v1" in call_page
