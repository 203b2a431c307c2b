"""The routing lookup for known, unknown and inactive numbers and extensions."""

import logging

import pytest

from agents.models import Agent, Extension, PhoneNumber
from agents.routing import normalise_number, route_extension, route_number
from engine.prompts import prompt_pcm

pytestmark = pytest.mark.django_db


def test_known_number_routes_to_its_agent(agent):
    PhoneNumber.objects.create(number="+14155550100", carrier="twilio", agent=agent)
    route = route_number("twilio", "+14155550100")
    assert route.agent == agent and route.reason == "bound"


def test_same_number_on_another_carrier_is_not_bound(agent):
    PhoneNumber.objects.create(number="+14155550100", carrier="twilio", agent=agent)
    assert route_number("plivo", "+14155550100").agent is None


def test_plivo_numbers_without_plus_and_sip_uris_are_normalised(agent):
    PhoneNumber.objects.create(number="+14155550100", carrier="plivo", agent=agent)
    assert route_number("plivo", "14155550100").agent == agent
    assert normalise_number("sip", "sip:+14155550100@trunk.example.com;user=phone") == "+14155550100"


def test_unknown_number_logs_and_refuses(caplog):
    with caplog.at_level(logging.WARNING, logger="agents.routing"):
        route = route_number("twilio", "+15555550199")
    assert route.agent is None and route.reason == "unknown"
    assert "+15555550199 is not bound to an agent" in caplog.text


def test_inactive_number_and_inactive_agent_are_refused(agent):
    PhoneNumber.objects.create(number="+14155550100", carrier="twilio", agent=agent, is_active=False)
    assert route_number("twilio", "+14155550100").reason == "inactive_number"
    off = Agent.objects.create(name="Off", system_prompt="x", is_active=False)
    PhoneNumber.objects.create(number="+14155550101", carrier="twilio", agent=off)
    assert route_number("twilio", "+14155550101").reason == "inactive_agent"


def test_fallback_agent_takes_unknown_numbers(agent, settings):
    settings.FALLBACK_AGENT = agent.name
    route = route_number("twilio", "+15555550199")
    assert route.agent == agent and route.reason == "fallback"


def test_extension_routing(agent):
    Extension.objects.create(
        context="from-internal", extension="7000", agent=agent, media_transport="audiosocket"
    )
    route = route_extension("from-internal", "7000")
    assert route.agent == agent and route.media_transport == "audiosocket"
    assert route_extension("from-internal", "7001").agent is None


def test_apology_prompt_is_real_speech_at_the_rate_asked():
    pcm = prompt_pcm("apology", 8000)
    seconds = len(pcm) / 2 / 8000
    assert 3 < seconds < 8
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    assert np.sqrt(np.mean(samples**2)) > 300  # speech, not silence
