"""What runasterisk survives: malformed media, ARI going away mid-call, 422s, many calls in a row."""

from __future__ import annotations

import os
import socket
import time

import pytest

from calls.models import Call
from emulators.asterisk.legs import AudioSocketLeg, RtpLeg, WebSocketLeg
from telephony.asterisk.audiosocket import encode
from telephony.rtp import RtpSender

from .test_calls import CONTEXT, bind_extension, call_resources_gone, next_reply, say, stored

pytestmark = pytest.mark.django_db(transaction=True)


def leg_of(asterisk, chan, kind):
    return asterisk.wait_for(
        lambda: next((leg for leg in chan.phone.legs if isinstance(leg, kind)), None), what="media leg"
    )


def test_malformed_rtp_does_not_break_the_call(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: datagrams that are not RTP (junk, RTP version 1, a truncated header, a CSRC list
    running past the end) from Asterisk's RTP socket, and valid RTP from a stranger's socket.
    Survives: the call; the next turn is heard and the caller's hangup is stored."""
    run = runasterisk("rtp")
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app)
    _, end, _ = next_reply(asterisk, chan, 0)
    leg = leg_of(asterisk, chan, RtpLeg)
    for junk in (b"not rtp at all", b"\x40" + bytes(20), b"\x80\x00\x01", b"\x8f" + bytes(19)):
        asterisk.call(leg.inject, junk)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.sendto(RtpSender(0).audio(b"\x00" * 160), leg.external)
    say(asterisk, chan, "hello")
    _, end, reply = next_reply(asterisk, chan, end)
    assert {"help", "today"} & set(reply.split()), reply
    asterisk.hangup(chan)
    assert stored(chan.id).end_reason == "caller hung up"
    assert call_resources_gone(asterisk, chan)
    assert "dropped malformed packet" in run.log()


def test_malformed_audiosocket_frames_do_not_break_the_call(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: AudioSocket messages of an unknown kind (0x42), empty audio, odd-length audio, and
    a flood of 2,000 audio messages at once. Survives: the session and the call (the flood beyond the
    burst allowance dropped and warned about); the next turn is heard, then the caller hangs up."""
    run = runasterisk("audiosocket")
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app)
    _, end, _ = next_reply(asterisk, chan, 0)
    leg = leg_of(asterisk, chan, AudioSocketLeg)
    asterisk.call(leg.inject, encode(0x42, b"junk") + encode(0x12, b"") + encode(0x12, b"\x01\x02\x03"))
    asterisk.call(leg.inject, encode(0x12, b"\x00" * 640) * 2000)  # a flood: 40 s of audio at once
    time.sleep(1.5)  # the rate cap refills: the caller's next words get through
    say(asterisk, chan, "hello")
    _, end, reply = next_reply(asterisk, chan, end)
    assert {"help", "today"} & set(reply.split()), reply
    asterisk.hangup(chan)
    assert stored(chan.id).end_reason == "caller hung up"
    assert "messages dropped over the caps" in run.log(), "the AudioSocket flood was not capped"
    assert call_resources_gone(asterisk, chan)


def test_ari_goes_away_mid_call_and_comes_back(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: the ARI events socket drops and ARI answers 503 for 1.5 s in the middle of a call.
    Survives: the media keeps flowing, runasterisk reconnects and resubscribes, the next turn, DTMF
    and the caller's hangup all work."""
    run = runasterisk("rtp")
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app)
    _, end, _ = next_reply(asterisk, chan, 0)
    connections = asterisk.emulator.event_connections
    asterisk.restart_ari(1.5)
    asterisk.wait_for(lambda: asterisk.emulator.event_connections > connections, 20, "reconnection")
    asterisk.wait_for(lambda: asterisk.emulator.app_registered(run.app), 20, "app registered again")
    say(asterisk, chan, "hello")
    _, end, reply = next_reply(asterisk, chan, end)
    assert {"help", "today"} & set(reply.split()), reply
    asterisk.send_dtmf(chan, "7")
    time.sleep(0.5)
    asterisk.hangup(chan)
    row = stored(chan.id)
    assert row.end_reason == "caller hung up"
    assert ("system", "Caller pressed 7") in list(row.segments.values_list("speaker", "text"))
    assert call_resources_gone(asterisk, chan)


def test_caller_hangs_up_while_ari_is_away(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: the caller hangs up while ARI is down, so its hangup events are lost for good.
    Survives: on reconnecting, runasterisk resyncs (GET /channels), ends the call, hangs up the
    orphaned media leg and destroys the bridge; the call is stored."""
    run = runasterisk("rtp")
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app)
    next_reply(asterisk, chan, 0)
    asterisk.restart_ari(1.5)
    asterisk.hangup(chan)
    row = stored(chan.id, timeout=30)
    assert row.end_reason == "caller hung up while ARI was away", row.end_reason
    assert call_resources_gone(asterisk, chan)


def test_a_422_on_the_leg_is_retried(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: ARI answers addChannel for the media leg with 422 "Channel not in Stasis
    application" twice. Survives: runasterisk retries, the call goes on and the greeting is heard."""
    run = runasterisk("rtp")
    asterisk.fail_next(
        "POST", r"/bridges/[^/]+/addChannel", 422, "Channel not in Stasis application", 2, "cc-leg-"
    )
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app)
    _, _, greeting = next_reply(asterisk, chan, 0)
    assert {"calling", "help"} & set(greeting.split()), greeting
    adds = [r[2] for r in asterisk.emulator.requests if r[1].endswith("/addChannel") and r[2] in (204, 422)]
    assert adds[-3:] == [422, 422, 204]
    asterisk.hangup(chan)
    assert call_resources_gone(asterisk, chan)


def test_a_persistent_422_ends_the_call_cleanly(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: every addChannel of the leg answered 422. Survives: runasterisk gives up, hangs
    the caller up with congestion (cause 34) and leaves no leg, bridge or engine call behind."""
    run = runasterisk("rtp")
    asterisk.fail_next(
        "POST", r"/bridges/[^/]+/addChannel", 422, "Channel not in Stasis application", 8, "cc-leg-"
    )
    chan = asterisk.place_call(CONTEXT, bind_extension(asterisk_agent), app=run.app)
    asterisk.wait_for(lambda: chan.phone.ended.is_set(), 30, "hangup")
    assert chan.phone.end_cause == 34
    assert call_resources_gone(asterisk, chan)
    assert "ARI refused a step of the call" in run.log()


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_fifty_calls_in_a_row_leave_nothing_behind(asterisk, runasterisk, asterisk_agent):
    """50 short calls, hung up at different moments of set-up and greeting. Afterwards: no channel,
    bridge or leg on Asterisk, no open RTP socket in runasterisk, no call still live in the database.
    File descriptors are counted after the first 10 calls: by then the worker threads that hold a
    database connection each (heartbeat, transcript batches, set-up) exist; a leak per call shows as 40."""
    run = runasterisk("rtp")
    exten = bind_extension(asterisk_agent)
    fds_before = None
    chans = []
    for i in range(50):
        if i == 10:
            fds_before = _fds(run.process.pid)
        chan = asterisk.place_call(CONTEXT, exten, f"+1555000{i:04d}", app=run.app)
        if i % 3 == 0:
            asterisk.wait_for(lambda c=chan: c.phone.answered.is_set(), 20, "answer")
        elif i % 3 == 1:
            asterisk.wait_for(lambda c=chan: c.phone.legs, 20, "media leg bridged")
        else:
            asterisk.wait_for(lambda c=chan: len(c.phone.heard) > 16000, 20, "greeting audio")
        asterisk.hangup(chan)
        chans.append(chan)
    for chan in chans:
        call_resources_gone(asterisk, chan)
    assert asterisk.wait_for(
        lambda: not asterisk.emulator.channels and not asterisk.emulator.bridges, what="emulator empty"
    )
    deadline = time.monotonic() + 30
    while Call.objects.filter(
        carrier_call_id__in=[c.id for c in chans], status__in=Call.LIVE_STATUSES
    ).exists():
        assert time.monotonic() < deadline, "calls still live in the database"
        time.sleep(0.2)
    assert _fds(run.process.pid) <= fds_before + 5


def test_a_media_message_that_breaks_handling_ends_only_that_call(asterisk, runasterisk, asterisk_agent):
    """Thrown at it: on one of two simultaneous WebSocket-media calls, a control message of 10,000
    nested `[` (parsing raises RecursionError). Survives: that call is hung up and stored as failed
    with the reason, leaving no leg or bridge; the other call is heard and answered, then ends
    normally; runasterisk keeps running."""
    run = runasterisk("websocket")
    extension = bind_extension(asterisk_agent)
    bad = asterisk.place_call(CONTEXT, extension, app=run.app)
    good = asterisk.place_call(CONTEXT, extension, app=run.app)
    next_reply(asterisk, bad, 0)
    _, end, _ = next_reply(asterisk, good, 0)
    leg = leg_of(asterisk, bad, WebSocketLeg)
    asterisk.call(leg.inject, '{"event": ' + "[" * 10_000)
    asterisk.wait_for(lambda: bad.phone.ended.is_set(), 20, "the broken call hung up")
    row = stored(bad.id)
    assert row.status == "failed" and row.end_reason == "media socket message failed: RecursionError"
    say(asterisk, good, "hello")
    _, end, reply = next_reply(asterisk, good, end)
    assert {"help", "today"} & set(reply.split()), reply
    asterisk.hangup(good)
    assert stored(good.id).status == "completed"
    assert call_resources_gone(asterisk, good)
    assert run.process.poll() is None
