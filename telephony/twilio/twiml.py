"""TwiML the webhooks answer, rendered with Twilio's own `twilio.twiml` builder."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

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
