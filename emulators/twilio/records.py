"""Twilio's REST records as the API renders them: Call and Message JSON, and list pages.

Shapes follow the reference (§5) and the `twilio` package's `CallInstance` / `Page`: dates in RFC 2822
("Wed, 02 Dec 2026 14:01:28 +0000") or null, `duration` a string of seconds once the call is over,
`price` null with `price_unit` "USD" (Twilio fills the price in later), and list pages carrying the
records under one key (`calls`, `messages`) beside `page`, `page_size`, `uri`, `first_page_uri`,
`next_page_uri`, `previous_page_uri`, `start` and `end`, which is all the package needs to page on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from .call import TwilioCall

API_VERSION = "2010-04-01"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Sub-resources every Call record links to (as the real API lists them).
CALL_SUBRESOURCES = (
    ("feedback", "Feedback"),
    ("user_defined_messages", "UserDefinedMessages"),
    ("notifications", "Notifications"),
    ("recordings", "Recordings"),
    ("streams", "Streams"),
    ("payments", "Payments"),
    ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
    ("siprec", "Siprec"),
    ("events", "Events"),
    ("transcriptions", "Transcriptions"),
)


def rfc2822(timestamp: float | None) -> str | None:
    """A Unix time as Twilio writes dates ("Tue, 31 Aug 2010 20:36:28 +0000"), None stays None."""
    if timestamp is None:
        return None
    return format_datetime(datetime.fromtimestamp(int(timestamp), UTC))


def formatted(number: str) -> str:
    """`to_formatted` / `from_formatted`: North American numbers as "(415) 555-0100", others as sent."""
    digits = number[2:] if number.startswith("+1") else ""
    if len(digits) == 10 and digits.isdigit():
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return number


def account_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}"


def call_json(call: TwilioCall) -> dict[str, Any]:
    """The Call resource for `call` in its current state."""
    account = call.emulator.account_sid
    base = f"{account_path(account)}/Calls/{call.sid}"
    duration = None
    if call.ended_at is not None:
        duration = str(int(call.ended_at - call.answered_at)) if call.answered_at else "0"
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.created),
        "date_updated": rfc2822(call.updated_at),
        "parent_call_sid": None,
        "account_sid": account,
        "to": call.to,
        "to_formatted": formatted(call.to),
        "from": call.from_,
        "from_formatted": formatted(call.from_),
        "phone_number_sid": None,
        "status": call.status,
        "start_time": rfc2822(call.started_at),
        "end_time": rfc2822(call.ended_at),
        "duration": duration,
        "price": None,
        "price_unit": "USD",
        "direction": call.direction,
        "answered_by": call.answered_by or None,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": base + ".json",
        "subresource_uris": {key: f"{base}/{name}.json" for key, name in CALL_SUBRESOURCES},
    }


def message_json(
    account_sid: str, sid: str, to: str, from_: str, body: str, created: float
) -> dict[str, Any]:
    """A Message resource as `Messages.json` answers it (queued: the emulator delivers nothing)."""
    base = f"{account_path(account_sid)}/Messages/{sid}"
    return {
        "sid": sid,
        "account_sid": account_sid,
        "to": to,
        "from": from_,
        "messaging_service_sid": None,
        "body": body,
        "status": "queued",
        "num_segments": str(max(1, -(-len(body) // 160))),
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(created),
        "date_sent": None,
        "uri": base + ".json",
        "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
    }


def page(
    key: str,
    path: str,
    query: Mapping[str, str],
    records: Iterable[dict[str, Any]],
    filters: Mapping[str, Callable[[dict[str, Any], str], bool]],
) -> dict[str, Any] | str:
    """One page of `records` (newest first) as Twilio lists them, or an error message for a bad query.

    `filters` maps a query parameter (`To`, `Status`...) to a test of a record against its value;
    paging reads `PageSize` (1..1000, default 50), `Page` and `PageToken` (`PA` + the sid of the last
    record of the previous page, so a page follows on even when records were added meanwhile).
    """
    try:
        size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
        number = int(query.get("Page", 0))
    except ValueError:
        return "PageSize and Page must be integers"
    if not 1 <= size <= MAX_PAGE_SIZE or number < 0:
        return f"PageSize must be between 1 and {MAX_PAGE_SIZE}, Page at least 0"
    kept = [
        r for r in records if all(test(r, query[name]) for name, test in filters.items() if name in query)
    ]
    start = number * size
    token = query.get("PageToken", "")
    sids = [r["sid"] for r in kept]
    if token.startswith("PA") and token[2:] in sids:
        start = sids.index(token[2:]) + 1
    chosen = kept[start : start + size]
    asked = {name: query[name] for name in filters if name in query}

    def uri(page_number: int, page_token: str = "") -> str:
        params = {**asked, "PageSize": size, "Page": page_number}
        if page_token:
            params["PageToken"] = page_token
        return f"{path}?{urlencode(params)}"

    more = start + size < len(kept)
    return {
        key: chosen,
        "page": number,
        "page_size": size,
        "start": start,
        "end": start + max(len(chosen) - 1, 0),
        "uri": uri(number, token),
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1, "PA" + chosen[-1]["sid"]) if more and chosen else None,
        "previous_page_uri": uri(number - 1, "PB" + chosen[0]["sid"]) if number > 0 and chosen else None,
    }
