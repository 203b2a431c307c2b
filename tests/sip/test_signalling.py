"""SIP signalling against a real `runsip` process: sipp (and raw sockets for broken input) as the caller."""

from __future__ import annotations

import secrets
import socket

import pytest

from tests.sip.conftest import call_with_capture
from tests.sip.media import CallerScript, decode_stream, rtp_streams, to_16k
from tests.sip.rawsip import RawUdp, ack_for, header, invite, status_of
from tests.sip.test_calls import wait_for_calls

pytestmark = pytest.mark.django_db(transaction=True)

PCMU = {"codec_pt": "0", "codec_name": "PCMU"}


def options(server, transport: str = "UDP") -> str:
    branch = "z9hG4bK" + secrets.token_hex(6)
    text = (
        f"OPTIONS sip:{server.addr[0]}:{server.port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:5999;branch={branch}\r\n"
        "From: <sip:monitor@127.0.0.1>;tag=mon1\r\nTo: <sip:ping@127.0.0.1>\r\n"
        f"Call-ID: {branch}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    if transport == "UDP":
        client = RawUdp()
        try:
            client.send(text, server.addr)
            return client.recv() or ""
        finally:
            client.close()
    with socket.create_connection(server.addr, timeout=5) as sock:
        sock.sendall(text.encode())
        return sock.recv(65535).decode()


def test_options_is_answered_on_udp_and_tcp(runsip):
    """A carrier's OPTIONS keep-alive gets 200 with Allow and Accept, on UDP and on TCP."""
    for transport in ("UDP", "TCP"):
        reply = options(runsip, transport)
        assert status_of(reply) == 200, reply
        assert "INVITE" in header(reply, "Allow") and "BYE" in header(reply, "Allow")
        assert header(reply, "Accept") == "application/sdp"
        assert "received=127.0.0.1" in header(reply, "Via")


def test_unknown_number_gets_404(runsip, sipp, transactional_db):
    """A call to a user part bound to no agent is refused with 404 Not Found (SIP_UNKNOWN_NUMBER=404)."""
    result = sipp(runsip, "uac_rejected.xml", service="9999", keys=PCMU)
    assert result.ok, result.describe()
    assert result.statuses("INVITE")[-1] == 404


def test_malformed_invites_get_400_and_nothing_else_is_disturbed(runsip, sip_number):
    """Thrown at it over raw UDP: a bad CSeq, a CSeq method mismatch, a Content-Length longer than the
    body, an INVITE without Call-ID, SDP that is not SDP, a header line without a colon, and binary
    garbage. Each INVITE gets a 400 naming the problem (garbage gets nothing); a normal INVITE sent
    in between is still answered 200, and OPTIONS still works afterwards."""
    client = RawUdp()
    try:
        good, good_call_id, _ = invite("2000", runsip.addr, client.port)
        client.send(good, runsip.addr)
        seen = client.recv_until(lambda m: status_of(m) == 200 and good_call_id in m, timeout=15)
        answer = seen[-1]
        client.send(ack_for(good, answer, branch="z9hG4bKackgood"), runsip.addr)

        broken = {
            "CSeq": invite("2000", runsip.addr, client.port, cseq="one INVITE")[0],
            "does not match": invite("2000", runsip.addr, client.port, cseq="1 BYE")[0],
            "Content-Length": invite("2000", runsip.addr, client.port)[0].replace(
                "Content-Length: ", "Content-Length: 9"
            ),
            "missing Call-ID": "\r\n".join(
                line
                for line in invite("2000", runsip.addr, client.port)[0].split("\r\n")
                if not line.startswith("Call-ID")
            ),
            "SDP": invite("2000", runsip.addr, client.port, body="this is not sdp\r\n")[0],
            "header line": invite("2000", runsip.addr, client.port, extra="Broken header line\r\n")[0],
        }
        answered_400 = set()
        for reason, text in broken.items():
            client.send(text, runsip.addr)
            reply = client.recv_until(
                lambda m: (
                    status_of(m) >= 200 and good_call_id not in m and header(m, "Via") not in answered_400
                )
            )[-1]
            assert status_of(reply) == 400, (reason, reply)
            assert reason.lower() in reply.split("\r\n", 1)[0].lower(), (reason, reply)
            answered_400.add(header(reply, "Via"))
        client.send(b"\x00\xff\x13garbage" * 20, runsip.addr)
        # Garbage gets no answer; what may still arrive are retransmissions of the 400s above (a
        # final INVITE response is repeated until ACKed, and this raw client never ACKs them).
        while (late := client.recv(timeout=0.7)) is not None:
            assert good_call_id in late or header(late, "Via") in answered_400, late

        # The call answered before the garbage is intact: hang it up normally.
        bye = (
            f"BYE sip:caller@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bKbyegood\r\n"
            f"From: {header(good, 'From')}\r\nTo: {header(answer, 'To')}\r\nCall-ID: {good_call_id}\r\n"
            "CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        client.send(bye, runsip.addr)
        replies = client.recv_until(lambda m: "BYE" in header(m, "CSeq") and status_of(m) > 0)
        assert status_of(replies[-1]) == 200
    finally:
        client.close()
    assert status_of(options(runsip)) == 200
    assert runsip.alive()


def test_no_common_codec_gets_488(runsip, sip_number):
    """An offer with only G.729 is refused with 488 Not Acceptable Here."""
    client = RawUdp()
    try:
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
        )
        text, call_id, _ = invite("2000", runsip.addr, client.port, body=sdp)
        client.send(text, runsip.addr)
        final = client.recv_until(lambda m: status_of(m) >= 200)[-1]
        assert status_of(final) == 488
    finally:
        client.close()


def test_invite_retransmission_and_200_retransmitted_until_ack(runsip, sip_number):
    """A retransmitted INVITE (same branch) gets the same answer, not a second call; the 200 OK is
    retransmitted while no ACK comes, and stops once it does."""
    client = RawUdp()
    try:
        text, call_id, _ = invite("2000", runsip.addr, client.port)
        client.send(text, runsip.addr)
        client.send(text, runsip.addr)
        oks = [m for m in client.recv_until(lambda m: status_of(m) == 200, timeout=15) if status_of(m) == 200]
        # wait for at least one retransmission of the 200 (T1 = 500 ms)
        more = client.recv_until(lambda m: status_of(m) == 200, timeout=5)
        oks += [m for m in more if status_of(m) == 200]
        assert len({header(m, "To") for m in oks}) == 1, "one dialog, one To tag"
        client.send(ack_for(text, oks[0], branch="z9hG4bKack1"), runsip.addr)
        # at most one 200 was already in flight; after that none for longer than the 4 s cap (T2)
        late = client.recv(timeout=0.3)
        assert late is None or status_of(late) == 200
        assert client.recv(timeout=4.5) is None
        bye = (
            f"BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bKbye1\r\n"
            f"From: {header(text, 'From')}\r\nTo: {header(oks[0], 'To')}\r\nCall-ID: {call_id}\r\n"
            "CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        client.send(bye, runsip.addr)
        assert status_of(client.recv_until(lambda m: "BYE" in header(m, "CSeq"))[-1]) == 200
    finally:
        client.close()


def test_requests_outside_a_dialog(runsip):
    """BYE for a dialog that does not exist gets 481; an unknown method gets 501; REGISTER gets 405."""
    client = RawUdp()
    try:
        for method, expected in (("BYE", 481), ("FOO", 501), ("REGISTER", 405)):
            text = (
                f"{method} sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bK{method}\r\n"
                f"From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:x@127.0.0.1>{';tag=b' if method == 'BYE' else ''}\r\n"
                f"Call-ID: nodialog-{method}\r\nCSeq: 5 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            client.send(text, runsip.addr)
            assert status_of(client.recv_until(lambda m: status_of(m) >= 200)[-1]) == expected
    finally:
        client.close()


def test_cancel_before_answer(runsip_factory, sipp, sip_number):
    """The caller hangs up while it rings: 200 to the CANCEL, 487 to the INVITE, no call answered."""
    from calls.models import Call

    server = runsip_factory(SIP_ANSWER_DELAY_MS="3000")
    result = sipp(server, "uac_cancel.xml", keys=PCMU)
    assert result.ok, result.describe()
    assert 487 in result.statuses("INVITE") and 200 in result.statuses("CANCEL")
    assert 200 not in result.statuses("INVITE")
    assert not Call.objects.filter(carrier="sip").exists()


def test_digest_authentication(runsip_factory, sipp, sip_number):
    """With SIP_AUTH_* set, an INVITE without credentials gets 401 with an MD5 challenge; sipp
    answering it with the right password gets the call, a wrong password gets 401 again."""
    server = runsip_factory(SIP_AUTH_USERNAME="trunk", SIP_AUTH_PASSWORD="s3cret", SIP_REALM="cc.test")
    result = sipp(server, "uac_auth.xml", keys=PCMU, extra=["-au", "trunk", "-ap", "s3cret"])
    assert result.ok, result.describe()
    assert result.statuses("INVITE")[:2] == [100, 401] or 401 in result.statuses("INVITE")
    assert 'realm="cc.test"' in result.messages and "algorithm=MD5" in result.messages

    wrong = sipp(server, "uac_auth.xml", keys=PCMU, extra=["-au", "trunk", "-ap", "wrong"], timeout=10)
    assert not wrong.ok
    assert 200 not in wrong.statuses("INVITE")
    assert wrong.statuses("INVITE").count(401) >= 2


def test_unknown_number_hears_the_apology(runsip_factory, sipp, transactional_db, tmp_path):
    """SIP_UNKNOWN_NUMBER=apology: the call is answered, the caller hears the pre-rendered apology
    (pocketsphinx hears it in the captured RTP), then we send BYE."""
    from emulators.gemini.speech import recognise

    server = runsip_factory(SIP_UNKNOWN_NUMBER="apology")
    script = CallerScript("ulaw").silence(1.0)
    result, capture = call_with_capture(
        sipp, server, script, tmp_path, "uac_g711_wait_bye.xml", tail_ms=None, service="5555"
    )
    assert result.ok, result.describe()
    assert "BYE" in result.received_requests()
    streams = [s for (src, dst), s in rtp_streams(capture.datagrams()).items() if dst[1] == result.media_port]
    assert streams, "no RTP reached the caller"
    heard = recognise(to_16k(decode_stream(streams[0], "ulaw")))
    assert "sorry" in heard and "not available" in heard, heard


def test_a_reused_call_id_never_starts_a_second_call(runsip, sip_number):
    """Thrown at it over raw UDP, once a call is up: its INVITE again from another branch (a merged
    request, forked on the way) gets 482 Loop Detected; a new INVITE reusing the Call-ID with another
    CSeq gets 481; neither starts a call: the original call's BYE is answered and one Call row exists."""
    from calls.models import Call

    client = RawUdp()
    try:
        text, call_id, branch = invite("2000", runsip.addr, client.port)
        client.send(text, runsip.addr)
        answer = client.recv_until(lambda m: status_of(m) == 200, timeout=15)[-1]
        client.send(ack_for(text, answer, branch="z9hG4bKackreuse"), runsip.addr)

        def final(request: str, branch: str) -> str:
            client.send(request, runsip.addr)
            return client.recv_until(lambda m: status_of(m) >= 300 and branch in header(m, "Via"))[-1]

        merged = text.replace(branch, "z9hG4bKforked1")
        assert status_of(final(merged, "z9hG4bKforked1")) == 482
        reused = text.replace(branch, "z9hG4bKreused1").replace("CSeq: 1 INVITE", "CSeq: 7 INVITE")
        reply = final(reused, "z9hG4bKreused1")
        assert status_of(reply) == 481 and "Call-ID in use" in header(reply, "Warning"), reply

        bye = (
            f"BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bKbyereuse\r\n"
            f"From: {header(text, 'From')}\r\nTo: {header(answer, 'To')}\r\nCall-ID: {call_id}\r\n"
            "CSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        client.send(bye, runsip.addr)
        assert (
            status_of(client.recv_until(lambda m: "BYE" in header(m, "CSeq") and status_of(m) > 0)[-1]) == 200
        )
    finally:
        client.close()
    (call,) = wait_for_calls(1)  # stored by runsip once the call ended
    assert call.carrier_call_id == call_id
    assert Call.objects.filter(carrier_call_id=call_id).count() == 1
