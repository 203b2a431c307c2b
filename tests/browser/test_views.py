"""The test-call page and its admin link: staff only (anonymous → login, non-staff → 403)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def page_url(agent) -> str:
    return f"/browser/agents/{agent.pk}/call/"


def test_anonymous_users_are_sent_to_the_login_page(agent):
    response = Client().get(page_url(agent))
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={page_url(agent)}"


def test_signed_in_non_staff_users_get_403(agent, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("clerk", "c@example.com", "pw-pw-pw-9"))
    assert client.get(page_url(agent)).status_code == 403


def test_staff_get_the_page_with_its_socket_and_scripts(agent, staff_user):
    client = Client()
    client.force_login(staff_user)
    response = client.get(page_url(agent))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-ws-path="/ws/browser/{agent.pk}/"' in html
    assert 'id="start"' in html and 'id="hangup"' in html
    assert "/static/browser/call.js" in html and "/static/browser/worklets.js" in html
    assert "http://" not in html and "https://" not in html  # no CDN: everything is served locally
    assert client.get("/static/browser/call.js").status_code == 200
    assert client.get(f"/browser/agents/{agent.pk + 99}/call/").status_code == 404
    assert 'id="inactive"' not in html
    agent.is_active = False
    agent.save()
    assert 'id="inactive"' in client.get(page_url(agent)).content.decode()  # warned: it will hear the apology


def test_the_agent_admin_page_links_to_the_test_call(agent, staff_user):
    client = Client()
    client.force_login(staff_user)
    html = client.get(f"/admin/agents/agent/{agent.pk}/change/").content.decode()
    assert f'href="{page_url(agent)}"' in html and "Test call" in html
