"""A supervisor whispers to the agent of a live call from its page; the agent follows, the caller
never hears the note, and the transcript keeps it as a supervisor line.

Real SDK, the Gemini emulator (whose scripted model answers per the system instruction in force),
the loopback line through `start_call`, and the dashboard's CSRF-checked form through Django's
test client; the note travels over the channel layer like it does between processes.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from calls.models import Call

from .test_engine import segments, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

NOTE = "Offer the caller the 10 % discount"


def staff_client(django_user_model) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("sup", "sup@example.com", "pw"))
    return client


def post_whisper(client: Client, call_id, text: str, with_token: bool = True):
    page = client.get(f"/calls/{call_id}/")
    assert page.status_code == 200 and 'id="whisper"' in page.content.decode()
    data = {"text": text}
    if with_token:
        data["csrfmiddlewaretoken"] = client.cookies["csrftoken"].value
    return client.post(f"/calls/{call_id}/whisper/", data, follow=True)


async def test_the_agent_follows_a_whisper_from_its_next_turn(demo_agent, dial, django_user_model):
    """Thrown at it: the same caller words before and after a supervisor's note, and a POST without
    the CSRF token. Holds: before the note the agent gives its usual answer, after it the answer
    follows the note; the caller never hears the note's words; the note is stored as a supervisor
    line; the tokenless POST is refused and changes nothing."""
    client = await sync_to_async(staff_client)(django_user_model)
    line = await dial()
    await line.wait_for_audio(0.5)
    await line.wait_quiet()
    await line.caller.say("i need some help", then_silence=0.6)
    await line.wait_for_audio(0.5)
    await line.wait_quiet()
    call_id = line.handle.call_id
    forged = await sync_to_async(post_whisper)(client, call_id, "say something rude", with_token=False)
    assert forged.status_code == 403
    sent = await sync_to_async(post_whisper)(client, call_id, NOTE)
    assert sent.status_code == 200 and "Sent to the agent" in sent.content.decode()
    await line.caller.say("i need some help", then_silence=0.6)
    await line.wait_for_audio(0.5)
    await line.wait_quiet()
    await line.hang_up_and_wait()
    call = await stored(call_id)
    lines = await sync_to_async(segments)(call.id)
    agent = [text.lower() for speaker, text in lines if speaker == "agent"]
    assert "discount" not in agent[1] and "discount" in agent[2], agent
    assert not any("offer the caller" in text or "rude" in text for text in agent)
    assert ("supervisor", f"sup: {NOTE}") in lines
    assert not any("rude" in text for _, text in lines)


async def test_a_whisper_to_a_finished_call_says_so(demo_agent, django_user_model):
    """A note posted after the call ended (a page left open) is refused with a message that says why."""
    client = await sync_to_async(staff_client)(django_user_model)
    call = await sync_to_async(Call.objects.create)(carrier="sip", agent=demo_agent, status="completed")
    page = await sync_to_async(client.get)(f"/calls/{call.pk}/")
    assert 'id="whisper"' not in page.content.decode()
    token = client.cookies["csrftoken"].value
    answer = await sync_to_async(client.post)(
        f"/calls/{call.pk}/whisper/", {"text": NOTE, "csrfmiddlewaretoken": token}, follow=True
    )
    assert "not in progress any more: nothing was sent" in answer.content.decode()
