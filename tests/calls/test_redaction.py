"""Card numbers and national ids never reach the stored transcript, the call page or the API."""

from __future__ import annotations

import pytest

from calls.models import Call
from calls.redaction import CARD, NATIONAL_ID, redact
from calls.tasks import store_call, store_segments

from .test_after_call import _Hook, _payload, hook  # noqa: F401 - the hook fixture
from .test_api import bearer, token  # noqa: F401 - the token fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "said, stored",
    [
        ("my card is 4111 1111 1111 1111 thanks", f"my card is {CARD} thanks"),
        ("it is four one one one one one one one one one one one one one one one", f"it is {CARD}"),
        ("5500-0000-0000-0004, expiry 12 25", f"{CARD}, expiry 12 25"),
        ("Four oh one two eight eight eight eight eight eight eight eight one eight eight one", CARD),
        ("my social is 123-45-6789", f"my social is {NATIONAL_ID}"),
        # Kept: numbers that are not card numbers (Luhn fails) or too short to be one.
        ("order number 1234567890123", "order number 1234567890123"),
        ("call me back on 555 123 4567", "call me back on 555 123 4567"),
    ],
)
def test_what_is_redacted_and_what_is_kept(said, stored):
    assert redact(said) == stored


def test_a_card_number_said_on_a_call_is_not_stored_or_shown(demo_agent, staff_client, token, gemini, hook):  # noqa: F811
    """Thrown at it: a caller reading a test card number, once while the call goes on (the periodic
    save) and again in the end-of-call records, and the model passing it to a tool. Holds: the
    transcript rows, the tool invocation, the summary, the call page, the JSON API, the CSV export and
    the post-call webhook show "[card number]", never the digits."""
    demo_agent.post_call_webhook_url = hook
    demo_agent.save()
    call = Call.objects.create(carrier="sip", agent=demo_agent, status="in_progress")
    during = [
        {"speaker": "caller", "text": "card 4111 1111 1111 1111", "start_ms": 0, "end_ms": 900, "seq": 0}
    ]
    assert store_segments.delay(str(call.pk), during).get() == 1
    payload = _payload(call, "again, four one one one one one one one one one one one one one one one")
    payload["segments"] = during + [dict(payload["segments"][1], seq=1)]
    payload["tool_invocations"] = [
        {
            "seq": 0,
            "tool_name": "take_payment",
            "arguments": {"card": "4111 1111 1111 1111", "amount": 20},
            "result": {"status": "ok", "output": {"charged": "card 4111111111111111"}},
            "latency_ms": 12.0,
        }
    ]
    assert store_call.delay(payload).get() == "stored"
    texts = list(call.segments.order_by("seq").values_list("text", flat=True))
    assert texts == [f"card {CARD}", f"again, {CARD}"]
    invocation = call.tool_invocations.get()
    assert invocation.arguments == {"card": CARD, "amount": 20}
    call.refresh_from_db()
    assert call.summary and "4111" not in call.summary
    page = staff_client.get(f"/calls/{call.pk}/").content.decode()
    api = staff_client.get(f"/api/calls/{call.pk}", **bearer(token)).content.decode()
    csv = b"".join(staff_client.get("/calls.csv").streaming_content).decode()
    (posted, _) = _Hook.received[0]
    for shown in (page, api, csv, posted.decode()):
        assert "4111" not in shown and "four one one one" not in shown
    for shown in (page, api, posted.decode()):
        assert "[card number]" in shown


def test_an_agent_may_keep_the_digits(demo_agent):
    """An agent whose calls must keep the numbers (the admin's "Redact transcripts" unticked)."""
    demo_agent.redact_transcripts = False
    demo_agent.save()
    call = Call.objects.create(carrier="sip", agent=demo_agent, status="in_progress")
    assert store_call.delay(_payload(call, "card 4111 1111 1111 1111")).get() == "stored"
    assert call.segments.filter(text__contains="4111 1111").exists()


def test_patterns_from_settings_are_redacted_too(demo_agent, settings):
    """Thrown at it: a deployment's own pattern (UK National Insurance numbers) in REDACT_PATTERNS. Holds:
    a caller saying one has it stored as the label; a broken pattern stops with what to fix."""
    from django.core.exceptions import ImproperlyConfigured

    settings.REDACT_PATTERNS = {"[national insurance number]": r"\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"}
    call = Call.objects.create(carrier="sip", agent=demo_agent, status="in_progress")
    assert store_call.delay(_payload(call, "it is QQ 12 34 56 C thanks")).get() == "stored"
    assert call.segments.filter(text="it is [national insurance number] thanks").exists()
    settings.REDACT_PATTERNS = {"[broken]": "(unclosed"}
    with pytest.raises(ImproperlyConfigured, match="'\\[broken\\]' is not a valid regular expression"):
        redact("anything")
