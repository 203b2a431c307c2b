"""The admin side of outbound calling: a campaign with a CSV of numbers, the Start / Pause actions,
the scheduled-callback list, and the one-off "Place an outbound call" form."""

from __future__ import annotations

import asyncio

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from calls.models import Call
from campaigns.models import Campaign, CampaignContact
from tests.tools.carriers import wait_sync

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def campaign_form(agent, **extra) -> dict:
    data = {
        "name": "Renewals",
        "agent": agent.pk,
        "carrier": "twilio",
        "from_number": "",
        "status": "draft",
        "greeting": "Hello {name}, your plan {plan} renews soon.",
        "voicemail_message": "",
        "detect_machines": "on",
        "max_attempts": 3,
        "retry_delay_minutes": 30,
        "calls_per_minute": 10,
        "max_simultaneous": 5,
        "contacts-TOTAL_FORMS": 0,
        "contacts-INITIAL_FORMS": 0,
        "contacts-MIN_NUM_FORMS": 0,
        "contacts-MAX_NUM_FORMS": 1000,
    }
    data.update(extra)
    return data


def test_csv_upload_start_and_pause(staff_client, tool_agent):
    csv = "number,name,plan\n+14155550601,Ada,Gold\n+14155550602,Grace,Silver\n"
    response = staff_client.post(
        "/admin/campaigns/campaign/add/",
        campaign_form(tool_agent, contacts_csv=SimpleUploadedFile("list.csv", csv.encode(), "text/csv")),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(name="Renewals")
    rows = list(CampaignContact.objects.filter(campaign=campaign).values_list("number", "fields", "status"))
    assert rows == [
        ("+14155550601", {"name": "Ada", "plan": "Gold"}, "pending"),
        ("+14155550602", {"name": "Grace", "plan": "Silver"}, "pending"),
    ]
    changelist = "/admin/campaigns/campaign/"
    staff_client.post(changelist, {"action": "start_campaigns", "_selected_action": [campaign.pk]})
    assert Campaign.objects.get(pk=campaign.pk).status == "running"
    staff_client.post(changelist, {"action": "pause_campaigns", "_selected_action": [campaign.pk]})
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"
    page = staff_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "+14155550601" in page and "Place a single outbound call" in page


def test_csv_without_a_number_column_is_refused(staff_client, tool_agent):
    """Thrown at it: a CSV whose header has no 'number' column. Survives: the form says so; no campaign."""
    bad = SimpleUploadedFile("list.csv", b"phone,name\n+14155550601,Ada\n", "text/csv")
    response = staff_client.post(
        "/admin/campaigns/campaign/add/", campaign_form(tool_agent, contacts_csv=bad)
    )
    assert response.status_code == 200 and "one of them &#x27;number&#x27;" in response.content.decode()
    assert not Campaign.objects.exists()


def test_callbacks_list_and_outbound_form_need_staff(client, staff_client):
    assert staff_client.get("/admin/campaigns/scheduledcallback/").status_code == 200
    assert client.get("/outbound/call/").status_code == 302  # to the login page
    assert staff_client.get("/outbound/call/").status_code == 200


def test_outbound_form_places_a_call(staff_client, here, twilio_emu, tool_agent):
    response = staff_client.post(
        "/outbound/call/",
        {"agent": tool_agent.pk, "carrier": "twilio", "to": "not a number", "variables": "{}"},
    )
    assert response.status_code == 200 and "is not an E.164 number" in response.content.decode()
    response = staff_client.post(
        "/outbound/call/",
        {"agent": tool_agent.pk, "carrier": "twilio", "to": "+14155550603", "variables": '{"name": "Ada"}'},
    )
    call = Call.objects.get(to_number="+14155550603")
    assert response.status_code == 302 and response["Location"] == f"/calls/{call.pk}/"
    assert call.variables == {"name": "Ada"} and call.direction == "outbound"

    async def hang_up():
        emu_call = twilio_emu.emulator.calls[call.carrier_call_id]
        await twilio_emu.run(emu_call.answered())
        await twilio_emu.run(emu_call.hangup())

    asyncio.run(hang_up())
    wait_sync(lambda: Call.objects.get(pk=call.pk).status not in Call.LIVE_STATUSES, what="call over")


def test_outbound_page_is_branded_like_the_admin_with_one_heading(staff_client):
    """Thrown: a staff member opening /outbound/call/. Survived: the admin's own branding (not
    "Django administration") and the page's title as one heading, not two."""
    page = staff_client.get("/outbound/call/").content.decode()
    assert "Django administration" not in page
    assert "Contact center" in page
    assert page.count("Place an outbound call</h1>") == 1, page


def test_unreachable_carrier_gives_a_readable_error_on_the_form_and_as_the_end_reason(
    staff_client, agent, settings
):
    """Thrown: an outbound call while the Twilio API address answers nothing (a port with no server,
    like a demo whose emulator is not running). Survived: the form says which address could not be
    reached and which setting to check, with no Python exception text, and the failed call's end
    reason says the same."""
    from tests.support.live import free_port

    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "0" * 32, "token"
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{free_port()}"
    settings.PUBLIC_BASE_URL = "https://cc.example.com"
    response = staff_client.post(
        "/outbound/call/",
        {"agent": agent.pk, "carrier": "twilio", "to": "+14155550603", "from_number": "+14155550100",
         "variables": "{}"},
    )  # fmt: skip
    page = response.content.decode()
    host = settings.TWILIO_API_BASE_URL.removeprefix("http://")
    expected = f"Could not reach {host}: connection refused. Is TWILIO_API_BASE_URL set to the emulator?"
    assert response.status_code == 200 and expected in page, page
    assert "Pool" not in page and "Error(" not in page and "Traceback" not in page
    call = Call.objects.get(to_number="+14155550603")
    assert call.status == Call.Status.FAILED and call.end_reason == expected


def test_csv_upload_skips_bad_numbers_and_repeats_and_says_why(staff_client, tool_agent):
    """Thrown: a CSV with a local number (555-1234), a number twice, and, on a second upload, a number
    the campaign has already. Survived: only dialable, new numbers are added; the page says how many
    rows were skipped and why (the phone-number form's E.164 rule, "already in the list"); the campaign
    page lists numbers compactly with a link to the paged list."""
    csv = "number,name\n+14155550601,Ada\n555-1234,Bob\n+14155550601,Ada again\n+14155550602,Grace\n"
    response = staff_client.post(
        "/admin/campaigns/campaign/add/",
        campaign_form(tool_agent, contacts_csv=SimpleUploadedFile("list.csv", csv.encode(), "text/csv")),
        follow=True,
    )
    page = response.content.decode()
    campaign = Campaign.objects.get(name="Renewals")
    numbers = list(campaign.contacts.order_by("id").values_list("number", flat=True))
    assert numbers == ["+14155550601", "+14155550602"]
    assert "2 number(s) added." in page, page
    assert "2 row(s) skipped" in page
    assert "row 3: &quot;555-1234&quot; is not an E.164 number" in page
    assert "row 4: +14155550601 is already in the list" in page

    again = SimpleUploadedFile("more.csv", b"number\n+14155550602\n+14155550603\n", "text/csv")
    page = staff_client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        campaign_form(tool_agent, contacts_csv=again),
        follow=True,
    ).content.decode()
    assert "1 number(s) added." in page and "row 2: +14155550602 is already in the list" in page, page
    assert campaign.contacts.count() == 3

    change = staff_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "<textarea" not in change.split("Numbers", 1)[1].split("Add numbers", 1)[0]
    listing = f"/admin/campaigns/campaigncontact/?campaign__id__exact={campaign.pk}"
    assert listing.replace("&", "&amp;") in change or listing in change
    paged = staff_client.get(listing).content.decode()
    assert "+14155550603" in paged and "3 campaign contacts" in paged
