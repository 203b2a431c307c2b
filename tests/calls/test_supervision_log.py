"""Who listened in on a call or took it over, as the call page shows it (through HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from calls.models import Supervision

from .conftest import make_call

pytestmark = pytest.mark.django_db


def test_the_call_page_lists_who_listened_and_who_took_over_with_when(staff_client, staff_user, agent):
    """Thrown: a finished call two supervisors listened to, one of whom also took it over, one of them
    since deleted. Seen: each listen and take-over, in order, with the user's name and the times in the
    site's zone; the deleted user's name survives; a finished call offers no Listen button."""
    call = make_call(agent=agent)
    at = datetime(2026, 12, 2, 14, 5, 7, tzinfo=UTC)
    Supervision.objects.create(
        call=call,
        user=staff_user,
        username="staff",
        action="listen",
        started_at=at,
        ended_at=at + timedelta(seconds=40),
    )
    Supervision.objects.create(
        call=call,
        user=staff_user,
        username="staff",
        action="take_over",
        started_at=at + timedelta(seconds=10),
    )
    Supervision.objects.create(
        call=call, user=None, username="gone", action="listen", started_at=at - timedelta(seconds=5)
    )
    page = staff_client.get(f"/calls/{call.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    log = html[html.index('id="supervisions"') : html.index("</ul>", html.index('id="supervisions"'))]
    lines = [line.split(">", 1)[1].split("</li", 1)[0] for line in log.split("<li")[1:]]
    assert lines == [
        "gone: listened in at 2026-12-02 14:05:02 UTC",
        "staff: listened in at 2026-12-02 14:05:07 UTC, until 2026-12-02 14:05:47 UTC",
        "staff: took over at 2026-12-02 14:05:17 UTC",
    ]
    assert 'id="listen"' not in html and 'id="supervise"' not in html
    admin = staff_client.get(f"/admin/calls/call/{call.pk}/change/").content.decode()
    assert "Supervisions" in admin and "Took over" in admin and "gone" in admin


def test_a_live_call_page_offers_listen_and_take_over_to_staff_only(staff_client, plain_user, agent):
    """A call in progress: staff see Listen and Take over wired to the call's supervise socket; a
    signed-in user who is not staff gets 403 and no page at all."""
    call = make_call(agent=agent, status="in_progress", transcript=False)
    html = staff_client.get(f"/calls/{call.pk}/").content.decode()
    assert 'id="listen"' in html and 'id="take-over"' in html
    assert f'data-socket="/ws/calls/{call.pk}/supervise/"' in html
    assert 'id="supervisions"' not in html  # nobody listened yet
    clerk = Client()
    clerk.force_login(plain_user)
    refused = clerk.get(f"/calls/{call.pk}/")
    assert refused.status_code == 403 and b'id="listen"' not in refused.content
