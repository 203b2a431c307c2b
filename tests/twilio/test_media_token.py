"""The single-use media token: issued once per call by a webhook, consumed once by a media WebSocket
of the same carrier."""

from __future__ import annotations

import datetime

import pytest

from calls.models import Call
from telephony import media_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(agent):
    return Call.objects.create(carrier="twilio", agent=agent, carrier_call_id="CA1")


def test_token_is_hex_stored_hashed_and_opens_its_call_once(call):
    token = media_token.issue(call)
    assert len(token) == 48 and all(c in "0123456789abcdef" for c in token)
    call.refresh_from_db()
    assert call.media_token_hash and call.media_token_hash != token
    assert media_token.consume(token, "twilio").pk == call.pk
    assert media_token.consume(token, "twilio") is None, "a token works only once"


@pytest.mark.parametrize("bad", [None, "", "zz" * 24, "A" * 48, "0" * 48, "12345"])
def test_missing_malformed_or_unknown_tokens_open_nothing(call, bad):
    """Thrown: missing, non-hex, upper-case, unknown, too short tokens. Survives: nothing opens."""
    media_token.issue(call)
    assert media_token.consume(bad, "twilio") is None


def test_a_token_of_an_ended_or_stale_call_opens_nothing(call):
    token = media_token.issue(call)
    Call.objects.filter(pk=call.pk).update(status="completed")
    assert media_token.consume(token, "twilio") is None
    other = Call.objects.create(carrier="twilio")
    token = media_token.issue(other)
    Call.objects.filter(pk=other.pk).update(started_at=other.started_at - datetime.timedelta(hours=1))
    assert media_token.consume(token, "twilio") is None


def test_a_call_gets_one_token_only(call):
    """Thrown: a second issue for the same call (what a replayed voice webhook would ask for).
    Survives: no second token; the first still opens the call, once."""
    first = media_token.issue(call)
    assert media_token.issue(call) is None
    call.refresh_from_db()
    assert media_token.issue(call) is None
    assert media_token.consume(first, "twilio").pk == call.pk
    assert media_token.issue(call) is None, "not even once the first token is used"


def test_a_token_opens_only_a_stream_of_its_own_carrier(call):
    """Thrown: a Twilio call's token presented on a Plivo stream. Survives: it opens nothing and is
    not spent; on a Twilio stream it still opens its call."""
    token = media_token.issue(call)
    assert media_token.consume(token, "plivo") is None
    assert media_token.consume(token, "twilio").pk == call.pk
