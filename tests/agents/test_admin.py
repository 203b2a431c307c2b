"""The admin, driven over HTTP as a staff member would: create an agent, bind a number, see errors."""

import pytest

from agents.models import Agent, PhoneNumber, Tool

pytestmark = pytest.mark.django_db

AGENT_FORM = {
    "name": "Billing",
    "is_active": "on",
    "system_prompt": "You help with invoices.",
    "greeting": "Billing desk, how can I help?",
    "consent_announcement": "",
    "language": "en-US",
    "model": "gemini-2.5-flash-native-audio-preview-12-2025",
    "voice": "Kore",
    "temperature": "0.7",
    "start_sensitivity": "START_SENSITIVITY_HIGH",
    "end_sensitivity": "END_SENSITIVITY_LOW",
    "prefix_padding_ms": "40",
    "silence_duration_ms": "600",
    "barge_in": "on",
    "max_call_seconds": "300",
    "max_concurrent_calls": "5",
    "record_calls": "on",
    "config_webhook_url": "",
    "config_webhook_secret": "",
    # The warm transfer targets inline (none), as the admin page posts it.
    "transfer_targets-TOTAL_FORMS": "0",
    "transfer_targets-INITIAL_FORMS": "0",
}


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_admin_requires_login(client):
    response = client.get("/admin/agents/agent/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_create_agent_and_bind_a_number(admin_client):
    response = admin_client.post("/admin/agents/agent/add/", AGENT_FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    agent = Agent.objects.get(name="Billing")
    assert agent.voice == "Kore" and agent.silence_duration_ms == 600

    response = admin_client.post(
        "/admin/agents/phonenumber/add/",
        {
            "number": "+14155550100",
            "carrier": "twilio",
            "twilio_media": "stream",
            "agent": agent.pk,
            "label": "Main line",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert PhoneNumber.objects.get(number="+14155550100").agent == agent

    listing = admin_client.get("/admin/agents/agent/").content.decode()
    assert "Billing" in listing and "Kore" in listing


def test_bad_e164_number_is_refused_with_a_message_that_says_what_to_fix(admin_client, agent):
    response = admin_client.post(
        "/admin/agents/phonenumber/add/",
        {
            "number": "415-555-0100",
            "carrier": "twilio",
            "agent": agent.pk,
            "is_active": "on",
            "twilio_media": "stream",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "is not an E.164 number" in page and "+14155550100" in page
    assert not PhoneNumber.objects.exists()


def test_sip_user_part_rule(admin_client, agent):
    ok = admin_client.post(
        "/admin/agents/phonenumber/add/",
        {"number": "support-line", "carrier": "sip", "agent": agent.pk, "twilio_media": "stream"},
    )
    assert ok.status_code == 302
    bad = admin_client.post(
        "/admin/agents/phonenumber/add/",
        {"number": "a b@c", "carrier": "sip", "agent": agent.pk, "twilio_media": "stream"},
    )
    assert "not a valid SIP user part" in bad.content.decode()


def test_tool_schema_gemini_would_refuse_names_the_offending_key(admin_client):
    form = {
        "name": "lookup_order",
        "kind": "webhook",
        "description": "Look up an order by id.",
        "parameters": '{"type": "object", "properties": {"order_id": {"type": "string"}}, "additionalProperties": false}',
        "url": "https://example.com/hook",
        "secret": "",
        "timeout_seconds": "5",
        "is_active": "on",
    }
    response = admin_client.post("/admin/agents/tool/add/", form)
    assert response.status_code == 200
    assert "additionalProperties" in response.content.decode()
    assert "would refuse" in response.content.decode()
    assert not Tool.objects.exists()

    form["parameters"] = (
        '{"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}'
    )
    assert admin_client.post("/admin/agents/tool/add/", form).status_code == 302
    assert Tool.objects.get().parameters["required"] == ["order_id"]


def test_nested_bad_key_is_found_with_its_path(admin_client):
    form = {
        "name": "book",
        "kind": "webhook",
        "description": "Book a slot.",
        "parameters": '{"type": "OBJECT", "properties": {"slot": {"type": "OBJECT", "properties": {"at": {"type": "STRING", "const": "x"}}}}}',
        "url": "https://example.com/hook",
        "timeout_seconds": "5",
    }
    page = admin_client.post("/admin/agents/tool/add/", form).content.decode()
    assert "const" in page and "parameters.properties.slot.properties.at" in page


def test_webhook_tool_without_url_is_refused(admin_client):
    form = {"name": "hook", "kind": "webhook", "description": "x", "parameters": "{}", "timeout_seconds": "5"}
    page = admin_client.post("/admin/agents/tool/add/", form).content.decode()
    assert "needs the URL" in page


def test_extension_form_offers_every_media_variant_the_variable_accepts(admin_client, agent, settings):
    """Thrown: a staff member binding an extension to "rtp:alaw" / "websocket:ulaw", which only
    ASTERISK_MEDIA_TRANSPORT could set before. Survived: the form lists every value the bridge's parser
    accepts, saves the variant, and the bridge's config resolves it to that format."""
    from agents.routing import route_extension
    from telephony.asterisk.config import AsteriskConfig, parse_transport

    page = admin_client.get("/admin/agents/extension/add/").content.decode()
    for value in ("rtp", "rtp:alaw", "audiosocket", "audiosocket:slin", "websocket", "websocket:ulaw"):
        assert f'value="{value}"' in page, value
        parse_transport(value)  # the bridge accepts each one offered
    response = admin_client.post(
        "/admin/agents/extension/add/",
        {"context": "from-internal", "extension": "150", "agent": agent.pk,
         "media_transport": "rtp:alaw", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()
    route = route_extension("from-internal", "150")
    settings.ASTERISK_MEDIA_TRANSPORT = "audiosocket"
    assert AsteriskConfig.from_settings().transport_for(route.media_transport) == ("rtp", "alaw")


def test_language_must_be_a_language_tag(admin_client):
    """Thrown: "klingon!!" in the agent's language field. Survived: the form refuses it saying what to
    write; "de-DE" is accepted."""
    page = admin_client.post(
        "/admin/agents/agent/add/", {**AGENT_FORM, "language": "klingon!!"}
    ).content.decode()
    assert "Write a language tag such as en-US" in page
    assert not Agent.objects.filter(name="Billing").exists()
    response = admin_client.post("/admin/agents/agent/add/", {**AGENT_FORM, "language": "de-DE"})
    assert response.status_code == 302 and Agent.objects.get(name="Billing").language == "de-DE"


def test_transfer_targets_are_edited_on_the_agent(admin_client):
    """Warm transfer targets are an inline of the agent: hours in a wrong format are refused with the
    format shown; a good target is saved and lands in the snapshot calls use."""
    from agents.models import TransferTarget
    from agents.snapshot import snapshot

    target = {
        "transfer_targets-TOTAL_FORMS": "1",
        "transfer_targets-0-name": "Sales",
        "transfer_targets-0-destination": "+15005550201",
        "transfer_targets-0-position": "0",
    }
    bad = admin_client.post(
        "/admin/agents/agent/add/", {**AGENT_FORM, **target, "transfer_targets-0-hours": "weekdays 9 to 5"}
    )
    assert bad.status_code == 200
    page = bad.content.decode().replace("&#x27;", "'")
    assert "'weekdays 9 to 5' is not 'days HH:MM-HH:MM'" in page and "Mon-Fri 09:00-17:00" in page
    assert not Agent.objects.filter(name="Billing").exists()

    good = admin_client.post(
        "/admin/agents/agent/add/",
        {**AGENT_FORM, **target, "transfer_targets-0-hours": "Mon-Fri 09:00-17:00; Sat 10:00-13:00"},
    )
    assert good.status_code == 302, good.content.decode()[:2000]
    agent = Agent.objects.get(name="Billing")
    assert TransferTarget.objects.get(agent=agent).destination == "+15005550201"
    (config,) = snapshot(agent).transfer_targets
    assert (config.name, config.hours) == ("Sales", "Mon-Fri 09:00-17:00; Sat 10:00-13:00")
