"""A direct SIP trunk: a small asyncio SIP user agent server of our own, RTP via `telephony.rtp`.

Why our own: pyVoIP is GPL and imports `audioop` (gone in Python 3.13), pjsua2 wheels are alpha and
run their own threads, aiosip is dead; a UAS that only answers calls is a few hundred lines.
Modules: `message` (parse/serialize), `sdp` (offer/answer), `digest` (auth), `transport` (UDP,
TCP), `transactions` (retransmissions), `call` (dialog + RTP + engine), `server` (the UAS core),
`twiml` (Twilio `<Dial><Sip>`), `config` (settings). Run it with `manage.py runsip`.
"""
