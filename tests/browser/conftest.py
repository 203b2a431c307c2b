"""Fixtures of the browser test-call tests: an agent, a staff session cookie, a flite speech WAV."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from agents.models import Agent
from telephony.loopback import flite_pcm

PHRASE = "i would like to check the status of my order"


@pytest.fixture
def call_agent(transactional_db) -> Agent:
    return Agent.objects.create(
        name="Browser test agent",
        system_prompt="You are a support agent for Example Corp.",
        greeting="Hello, thanks for calling Example Corp. How can I help?",
        silence_duration_ms=300,
    )


def session_cookie(user) -> str:
    """A real signed-in session for `user` (database sessions: the live server sees it)."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def staff_cookie(staff_user) -> str:
    return session_cookie(staff_user)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """What Chromium's fake microphone plays (in a loop): silence, the phrase, silence; 16 kHz mono."""
    if subprocess.run(["which", "flite"], capture_output=True).returncode != 0:
        pytest.skip("needs flite")
    rate = 16000
    speech = np.frombuffer(flite_pcm(PHRASE, rate), dtype="<i2")
    lead, tail = np.zeros(int(rate * 5.0), "<i2"), np.zeros(int(rate * 5.0), "<i2")
    path = tmp_path_factory.mktemp("browser") / "caller.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.concatenate([lead, speech, tail]).tobytes())
    return path
