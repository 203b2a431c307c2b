"""Plivo REST calls the bridge makes, through the `plivo` package (blocking: run in a thread).

The package resets `client.base_uri` on every request from module constants in
`plivo.rest.client`, so `PLIVO_API_BASE_URL` (the emulator) is applied by setting those constants,
once per process. They are process-wide, like the setting itself.
"""

from __future__ import annotations

import logging

import plivo
import plivo.rest.client as plivo_client
from django.conf import settings

log = logging.getLogger(__name__)

_BASE_NAMES = (
    "PLIVO_API_BASE_URI",
    "API_VOICE_BASE_URI",
    "API_VOICE_BASE_URI_FALLBACK_1",
    "API_VOICE_BASE_URI_FALLBACK_2",
)


def _apply_base_url() -> None:
    base = settings.PLIVO_API_BASE_URL.rstrip("/")
    if not base:
        return
    if not base.endswith("/v1/Account"):
        base += "/v1/Account"
    for name in _BASE_NAMES:
        setattr(plivo_client, name, base)


def client() -> plivo.RestClient | None:
    if not (settings.PLIVO_AUTH_ID and settings.PLIVO_AUTH_TOKEN):
        return None
    _apply_base_url()
    return plivo.RestClient(settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN, timeout=10)


def end_call(call_uuid: str) -> bool:
    """Hang up `call_uuid` (DELETE Call/{uuid}/). True if Plivo accepted it."""
    api = client()
    if api is None:
        log.info("plivo: no PLIVO_AUTH_ID/TOKEN; ending %s by closing the stream only", call_uuid)
        return False
    api.calls.delete(call_uuid)
    return True


def transfer(call_uuid: str, aleg_url: str) -> None:
    """Send the caller to the XML at `aleg_url` (ends the stream)."""
    api = client()
    if api is None:
        raise RuntimeError("PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN are not set")
    api.calls.transfer(call_uuid, legs="aleg", aleg_url=aleg_url, aleg_method="POST")


def dial_person(from_: str, to: str, answer_url: str, hangup_url: str, ring_seconds: int) -> str:
    """Call the person of a warm transfer (POST Call/); returns Plivo's request_uuid."""
    api = client()
    if api is None:
        raise RuntimeError("PLIVO_AUTH_ID / PLIVO_AUTH_TOKEN are not set")
    if not from_:
        raise RuntimeError("this call has no Plivo number of ours to dial from")
    response = api.calls.create(
        from_=from_,
        to_=to,
        answer_url=answer_url,
        answer_method="POST",
        hangup_url=hangup_url,
        hangup_method="POST",
        ring_timeout=max(5, ring_seconds),
    )
    return str(getattr(response, "request_uuid", "") or "")
