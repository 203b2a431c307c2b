"""Warm transfer targets: opening hours as an admin writes them, and targets frozen with a published
version (the agent snapshot calls use)."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from agents import hours, versions
from agents.models import Agent, TransferTarget
from agents.snapshot import snapshot

# 2026-12-04 is a Friday, 2026-12-05 a Saturday, 2026-12-07 a Monday.
FRIDAY_NOON = datetime(2026, 12, 4, 12, 0)


@pytest.mark.parametrize(
    ("text", "when", "open_"),
    [
        ("", FRIDAY_NOON, True),
        ("Mon-Fri 09:00-17:00", FRIDAY_NOON, True),
        ("Mon-Fri 09:00-17:00", datetime(2026, 12, 4, 17, 0), False),  # closing time is exclusive
        ("Mon-Fri 09:00-17:00; Sat 10:00-13:00", datetime(2026, 12, 5, 12, 30), True),
        ("Mon-Fri 09:00-17:00; Sat 10:00-13:00", datetime(2026, 12, 5, 13, 30), False),
        ("Fri-Mon 00:00-24:00", datetime(2026, 12, 7, 23, 59), True),  # a range across the weekend
        ("Tue, Thu 08:30-12:00", FRIDAY_NOON, False),
        ("monday-friday 9:00-17:00", FRIDAY_NOON, True),
    ],
)
def test_opening_hours(text, when, open_):
    assert hours.is_open(text, when) is open_


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("weekdays 9 to 5", "is not 'days HH:MM-HH:MM'"),
        ("Mon-Fry 09:00-17:00", "'Fry' in 'Mon-Fry 09:00-17:00' is not a day"),
        ("Mon 17:00-09:00", "closes before it opens"),
        ("Mon 09:00-25:00", "'25:00' in 'Mon 09:00-25:00' is not a time of day"),
    ],
)
def test_bad_hours_are_refused_with_the_format(text, says):
    with pytest.raises(hours.HoursError) as caught:
        hours.parse(text)
    assert says in str(caught.value) and "Mon-Fri 09:00-17:00; Sat 10:00-13:00" in str(caught.value)


@pytest.mark.django_db
def test_destination_must_be_a_number_sip_uri_or_endpoint(agent):
    for good in ("+14155550123", "sip:sales@pbx.example.com", "PJSIP/200"):
        TransferTarget(agent=agent, name="Sales", destination=good).full_clean()
    with pytest.raises(ValidationError) as caught:
        TransferTarget(agent=agent, name="Sales", destination="call Bob").full_clean()
    assert "E.164" in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_a_published_version_keeps_its_targets(agent):
    """Targets are versioned with the agent: editing them changes the draft, not the calls in service,
    until the draft is published."""
    target = TransferTarget.objects.create(agent=agent, name="Sales", destination="+15005550201")
    with transaction.atomic():
        versions.publish(agent, "staff")
    target.destination = "+15005550299"
    target.save()
    agent = Agent.objects.get(pk=agent.pk)
    assert [t.destination for t in snapshot(agent).transfer_targets] == ["+15005550201"]
    assert [t.destination for t in snapshot(agent, draft=True).transfer_targets] == ["+15005550299"]
    assert versions.draft_differs(agent)
