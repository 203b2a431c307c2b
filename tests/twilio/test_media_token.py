"""The single-use media token: issued by a webhook, consumed once by the media WebSocket."""

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
    assert media_token.consume(token).pk == call.pk
    assert media_token.consume(token) is None, "a token works only once"


@pytest.mark.parametrize("bad", [None, "", "zz" * 24, "A" * 48, "0" * 48, "12345"])
def test_missing_malformed_or_unknown_tokens_open_nothing(call, bad):
    """Thrown: missing, non-hex, upper-case, unknown, too short tokens. Survives: nothing opens."""
    media_token.issue(call)
    assert media_token.consume(bad) is None


def test_a_token_of_an_ended_or_stale_call_opens_nothing(call):
    token = media_token.issue(call)
    Call.objects.filter(pk=call.pk).update(status="completed")
    assert media_token.consume(token) is None
    other = Call.objects.create(carrier="twilio")
    token = media_token.issue(other)
    Call.objects.filter(pk=other.pk).update(started_at=other.started_at - datetime.timedelta(hours=1))
    assert media_token.consume(token) is None


def test_reissuing_invalidates_the_old_token(call):
    old = media_token.issue(call)
    new = media_token.issue(call)
    assert media_token.consume(old) is None
    assert media_token.consume(new).pk == call.pk
