"""`manage.py twilio_emulator call` places a demo call against a running app and prints what it heard."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from .conftest import TWILIO_NUMBER


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("gemini_instant")  # nothing here depends on reply pacing
@pytest.mark.parametrize("silence_suppression", [False, True])
def test_demo_call_command_prints_the_greeting_and_the_reply(
    twilio_server, twilio_emulator, twilio_agent, silence_suppression
):
    """With `--silence-suppression` the caller sends no media while silent; "hello" is still answered."""
    out = io.StringIO()
    call_command(
        "twilio_emulator",
        "call",
        app=twilio_server.url,
        to=TWILIO_NUMBER,
        say=["hello"],
        auth_token=twilio_emulator.emulator.auth_token,
        account_sid=twilio_emulator.emulator.account_sid,
        silence_suppression=silence_suppression,
        stdout=out,
    )
    text = out.getvalue()
    assert "webhook HTTP 200" in text, text
    assert text.count("agent (") == 2, text  # the greeting and the answer to "hello"
    assert "call over (caller hung up)" in text and "protocol errors: none" in text, text
