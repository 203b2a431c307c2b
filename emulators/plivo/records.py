"""Plivo's REST records as the API renders them: call detail records (CDR), live calls, messages, lists.

Shapes follow the reference (§5) and Plivo's API docs: times as "2026-12-02 14:01:28+00:00" (UTC here),
durations as integer seconds, amounts as strings, numbers without the "+" as Plivo writes them, and
lists as `{"meta": {limit, offset, next, previous, total_count}, "objects": [...]}`. A call has a CDR
once it is over; while it lasts it is a live call (`?status=live`): `{"calls": [uuid, ...]}` as a list,
`call_status`/`session_start` as a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from .call import PlivoCall

MAX_LIMIT = 20  # Plivo lists at most 20 records a page

# final CallStatus -> (HangupCause, hangup_cause_name, hangup_cause_code, call_state)
HANGUP_CAUSES = {
    "busy": ("USER_BUSY", "Busy Line", 3010, "BUSY"),
    "no-answer": ("NO_ANSWER", "No Answer", 3000, "NO_ANSWER"),
    "failed": ("UNALLOCATED_NUMBER", "Invalid Destination Address", 2000, "FAILED"),
}
NORMAL_HANGUP = ("NORMAL_CLEARING", "Normal Hangup", 4000, "ANSWER")


def plivo_time(timestamp: float | None, micro: bool = False) -> str | None:
    """A Unix time as Plivo writes it ("2026-12-02 14:01:28+00:00"; `session_start` has microseconds)."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if micro else moment.strftime("%Y-%m-%d %H:%M:%S+00:00")


def number(value: str) -> str:
    return value.lstrip("+")


def hangup_cause(final_status: str) -> tuple[str, str, int, str]:
    return HANGUP_CAUSES.get(final_status, NORMAL_HANGUP)


def cdr_json(call: PlivoCall) -> dict[str, Any]:
    """The call detail record of a finished call (`GET Call/{uuid}/`)."""
    _, name, code, state = hangup_cause(call.final_status)
    answered = call.answered_at if call.answered_at and call.ended_at else None
    duration = int(call.ended_at - answered) if answered else 0
    return {
        "answer_time": plivo_time(answered),
        "bill_duration": duration,
        "billed_duration": -(-duration // 60) * 60,
        "call_direction": call.direction,
        "call_duration": duration,
        "call_state": state,
        "call_uuid": call.uuid,
        "conference_uuid": None,
        "end_time": plivo_time(call.ended_at),
        "from_number": number(call.from_),
        "hangup_cause_code": code,
        "hangup_cause_name": name,
        "hangup_source": call.hangup_source or "Plivo",
        "initiation_time": plivo_time(call.created),
        "parent_call_uuid": None,
        "resource_uri": f"/v1/Account/{call.emulator.auth_id}/Call/{call.uuid}/",
        "source_ip": None,
        "stir_verification": "Not Applicable",
        "to_number": number(call.to),
        "total_amount": "0.00000",
        "total_rate": "0.00000",
    }


def live_json(call: PlivoCall) -> dict[str, Any]:
    """A call in progress (`GET Call/{uuid}/?status=live`)."""
    return {
        "call_status": call.status,
        "call_uuid": call.uuid,
        "caller_name": call.from_,
        "direction": call.direction,
        "from": number(call.from_),
        "request_uuid": call.request_uuid,
        "session_start": plivo_time(call.created, micro=True),
        "stir_verification": "Not Applicable",
        "to": number(call.to),
    }


def message_json(auth_id: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """A message sent through `POST Message/` as `GET Message/{uuid}/` shows it (queued: nothing is delivered)."""
    text = str(message.get("text") or "")
    return {
        "error_code": None,
        "from_number": number(str(message.get("src", ""))),
        "message_direction": "outbound",
        "message_state": "queued",
        "message_time": plivo_time(message["message_time"]),
        "message_type": "mms" if message.get("media_urls") else "sms",
        "message_uuid": message["message_uuid"],
        "resource_uri": f"/v1/Account/{auth_id}/Message/{message['message_uuid']}/",
        "to_number": number(str(message.get("dst", ""))),
        "total_amount": "0.00000",
        "total_rate": "0.00000",
        "units": max(1, -(-len(text) // 160)),
    }


def listing(path: str, query: Mapping[str, str], objects: list[dict[str, Any]]) -> dict[str, Any] | str:
    """A page of `objects` as Plivo lists them (`limit` 1..20, `offset`), or an error message."""
    try:
        limit = int(query.get("limit", MAX_LIMIT))
        offset = int(query.get("offset", 0))
    except ValueError:
        return "limit and offset must be integers"
    if not 0 < limit <= MAX_LIMIT or offset < 0:
        return f"limit must be 1..{MAX_LIMIT} and offset at least 0"
    kept = {k: v for k, v in query.items() if k not in ("limit", "offset")}

    def uri(at: int) -> str:
        return f"{path}?{urlencode({**kept, 'limit': limit, 'offset': at})}"

    return {
        "meta": {
            "limit": limit,
            "next": uri(offset + limit) if offset + limit < len(objects) else None,
            "offset": offset,
            "previous": uri(max(offset - limit, 0)) if offset > 0 else None,
            "total_count": len(objects),
        },
        "objects": objects[offset : offset + limit],
    }
