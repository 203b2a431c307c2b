"""The model catalogue through the admin: what each Live model accepts is offered, what it refuses is
refused with a form error naming the model, and new agents default to gemini-3.8-live."""

from __future__ import annotations

import html

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from agents import gemini_catalog as catalog
from agents.models import Agent

from .test_admin import AGENT_FORM

pytestmark = pytest.mark.django_db

V25 = "gemini-2.5-flash-native-audio-preview-12-2025"


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def _form(**changes: str) -> dict[str, str]:
    data = {k: v for k, v in AGENT_FORM.items() if k not in changes or changes[k] is not None}
    data.update({k: v for k, v in changes.items() if v is not None})
    return data


def _errors(response) -> str:
    return html.unescape(response.content.decode())


def test_add_form_offers_catalogue_models_and_defaults_to_3_8(admin_client):
    page = admin_client.get("/admin/agents/agent/add/").content.decode()
    for model_id in catalog.MODELS:
        assert f'value="{model_id}"' in page
    assert 'value="gemini-3.8-live" selected' in page
    assert Agent().model == "gemini-3.8-live"


def test_3_8_agent_with_model_defaults_is_accepted(admin_client):
    response = admin_client.post(
        "/admin/agents/agent/add/", _form(model="gemini-3.8-live", proactive_audio="unknown")
    )
    assert response.status_code == 302, _errors(response)[:3000]
    agent = Agent.objects.get(name="Billing")
    assert agent.model == "gemini-3.8-live" and agent.proactive_audio is None


@pytest.mark.parametrize(
    ("model", "changes", "message"),
    [
        ("gemini-3.8-live", {"affective_dialog": "on"}, "gemini-3.8-live does not support affective dialog."),
        (
            "gemini-3.8-live",
            {"proactive_audio": "false"},
            "gemini-3.8-live always uses proactive audio; it cannot be turned off.",
        ),
        (
            "gemini-3.8-live-extended-thinking",
            {"thinking_budget": "1024"},
            "gemini-3.8-live-extended-thinking does not take a thinking budget.",
        ),
        ("gemini-3.8-live", {"thinking_level": "low"}, "gemini-3.8-live does not take a thinking level."),
        (
            "gemini-3.1-flash-live-preview",
            {"thinking_budget": "512"},
            "gemini-3.1-flash-live-preview does not take a thinking budget.",
        ),
        (
            "gemini-3.1-flash-live-preview",
            {"proactive_audio": "true"},
            "gemini-3.1-flash-live-preview does not support proactive audio",
        ),
        (V25, {"thinking_level": "high"}, f"{V25} does not take a thinking level."),
    ],
)
def test_setting_the_model_refuses_is_a_form_error(admin_client, model, changes, message):
    response = admin_client.post("/admin/agents/agent/add/", _form(model=model, **changes))
    assert response.status_code == 200
    assert message in _errors(response)
    assert not Agent.objects.filter(name="Billing").exists()


def test_2_5_accepts_affective_dialog_proactivity_off_and_a_budget(admin_client):
    response = admin_client.post(
        "/admin/agents/agent/add/",
        _form(model=V25, affective_dialog="on", proactive_audio="false", thinking_budget="1024"),
    )
    assert response.status_code == 302, _errors(response)[:3000]
    agent = Agent.objects.get(name="Billing")
    assert (agent.affective_dialog, agent.proactive_audio, agent.thinking_budget) == (True, False, 1024)


def test_3_1_accepts_a_thinking_level(admin_client):
    response = admin_client.post(
        "/admin/agents/agent/add/", _form(model="gemini-3.1-flash-live-preview", thinking_level="low")
    )
    assert response.status_code == 302, _errors(response)[:3000]
    assert Agent.objects.get(name="Billing").thinking_level == "low"


def test_switching_an_existing_2_5_agent_to_3_8_names_what_to_change(admin_client):
    agent = Agent.objects.create(name="Old", system_prompt="x", model=V25, affective_dialog=True)
    response = admin_client.post(
        f"/admin/agents/agent/{agent.pk}/change/",
        _form(name="Old", model="gemini-3.8-live", affective_dialog="on"),
    )
    assert response.status_code == 200
    assert "gemini-3.8-live does not support affective dialog." in _errors(response)
    agent.refresh_from_db()
    assert agent.model == V25


def test_unknown_model_is_refused(admin_client):
    response = admin_client.post("/admin/agents/agent/add/", _form(model="gemini-2.0-flash-live-001"))
    assert response.status_code == 200
    assert "Select a valid choice" in _errors(response)


@pytest.mark.django_db(transaction=True)
def test_migration_keeps_existing_agents_model():
    """0002 changes only the default: a row saved under 0001 keeps its 2.5 model."""
    executor = MigrationExecutor(connection)
    executor.migrate([("agents", "0001_initial")])
    old = executor.loader.project_state([("agents", "0001_initial")]).apps.get_model("agents", "Agent")
    old.objects.create(name="Legacy", system_prompt="x", model=V25)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    legacy = Agent.objects.get(name="Legacy")
    assert legacy.model == V25
    assert (legacy.affective_dialog, legacy.proactive_audio, legacy.thinking_budget) == (False, None, None)
