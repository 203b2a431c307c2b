"""SIGTERM to `runsip` in the middle of a call (a deploy or a restart of the trunk's process).

Thrown: SIGTERM to a real `manage.py runsip` holding a live call, with a drain deadline of 1 s.
Survives: the live call, which ends with the agent's closing line and a BYE from us (not a vanished
peer), and its record; a new INVITE during the drain gets 503 with Retry-After (the trunk tries
elsewhere); the process exits 0.
"""

from __future__ import annotations

import signal
import time

import pytest

from calls.models import Call
from engine.drain import DRAIN_REASON
from tests.conftest import gemini_env
from tests.support.live import database_url

from .conftest import start_runsip
from .rawsip import RawUdp, ack_for, header, invite, status_of


def is_request(message: str, method: str) -> bool:
    return message.startswith(f"{method} ")


@pytest.mark.django_db(transaction=True)
def test_sigterm_refuses_new_invites_says_goodbye_and_stores_the_call(sip_number, gemini_emulator):
    from django.db import connection

    server = start_runsip(
        database_url(connection.settings_dict), {**gemini_env(gemini_emulator), "DRAIN_SECONDS": "1"}
    )
    client, late = RawUdp(), RawUdp()
    try:
        text, call_id, _ = invite("2000", server.addr, client.port)
        client.send(text, server.addr)
        ok = client.recv_until(lambda m: status_of(m) == 200, timeout=15)[-1]
        client.send(ack_for(text, ok, branch="z9hG4bKack1"), server.addr)
        deadline = time.monotonic() + 10
        while not Call.objects.filter(status=Call.Status.IN_PROGRESS).exists():
            assert time.monotonic() < deadline, "the call never went in progress"
            time.sleep(0.1)

        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        late_text, _, _ = invite("2000", server.addr, late.port)
        late.send(late_text, server.addr)
        refused = late.recv_until(lambda m: status_of(m) >= 200, timeout=5)[-1]
        assert status_of(refused) == 503 and header(refused, "Retry-After"), refused

        # After the 1 s drain the agent says its closing line and we hang up with a BYE.
        bye = client.recv_until(lambda m: is_request(m, "BYE"), timeout=30)[-1]
        assert header(bye, "Call-ID") == call_id
        client.send(
            "SIP/2.0 200 OK\r\n"
            + "".join(f"{name}: {header(bye, name)}\r\n" for name in ("Via", "From", "To", "Call-ID", "CSeq"))
            + "Content-Length: 0\r\n\r\n",
            server.addr,
        )
        assert server.process.wait(30) == 0, server.log()[-3000:]
        call = Call.objects.get(carrier_call_id=call_id)
        assert (call.status, call.end_reason) == (Call.Status.COMPLETED, DRAIN_REASON)
        agent_lines = " ".join(call.segments.filter(speaker="agent").values_list("text", flat=True)).lower()
        assert "system update" in agent_lines, agent_lines
    finally:
        client.close()
        late.close()
        server.stop()
