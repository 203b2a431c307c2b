"""TwiML the webhooks answer, rendered with Twilio's own `twilio.twiml` builder."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Dial, Gather, VoiceResponse

APOLOGY = "Sorry, this number is not in service. Goodbye."


def apology() -> str:
    response = VoiceResponse()
    response.say(APOLOGY)
    response.hangup()
    return str(response)


def reject() -> str:
    """Refuse a call without answering it (a replayed voice webhook: no second stream)."""
    response = VoiceResponse()
    response.reject()
    return str(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def connect_stream(ws_url: str, token: str) -> str:
    """Bidirectional stream; the single-use token rides in `<Parameter>` (query strings are dropped)."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=ws_url)
    stream.parameter(name="token", value=token)
    response.append(connect)
    return str(response)


def dial(destination: str) -> str:
    response = VoiceResponse()
    dial = Dial()
    if destination.lower().startswith(("sip:", "sips:")):
        dial.sip(destination)
    else:
        dial.number(destination)
    response.append(dial)
    return str(response)


# --- warm transfer (telephony/twilio/handoff.py) --------------------------------------------------------
PERSON_GATHER_SECONDS = 8  # after the brief, how long the person has to press or say something
TAKEN = "Connecting you now."
DECLINED = "Thank you. The caller will be told. Goodbye."
ALREADY_HANDLED = "This call has already been handled. Goodbye."


def person_brief(brief: str, action: str) -> str:
    """The person's leg: the brief, spoken inside a <Gather> so 1 / "yes" may cut it short."""
    response = VoiceResponse()
    gather = Gather(
        input="dtmf speech",
        num_digits=1,
        action=action,
        method="POST",
        timeout=PERSON_GATHER_SECONDS,
        speech_timeout="auto",
        hints="yes, no",
        action_on_empty_result=True,
    )
    gather.say(brief)
    response.append(gather)
    return str(response)


def conference(room: str, *, announce: str = "") -> str:
    """Join `room`; whoever leaves ends it (no hold music while the other joins, no beep)."""
    response = VoiceResponse()
    if announce:
        response.say(announce)
    dial = Dial()
    dial.conference(
        room, start_conference_on_enter=True, end_conference_on_exit=True, beep=False, wait_url=""
    )
    response.append(dial)
    return str(response)


def goodbye(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)
