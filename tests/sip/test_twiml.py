"""Twilio `<Dial><Sip>` TwiML that sends a Twilio call to runsip."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from telephony.sip.twiml import dial_sip_twiml


def test_dial_sip_twiml(settings):
    """The TwiML names the dialled number at the advertised host and port, and carries the digest
    credentials Twilio needs to answer our 401 when auth is on."""
    settings.SIP_ADVERTISE_HOST, settings.SIP_PORT = "203.0.113.7", 5070
    settings.SIP_AUTH_USERNAME, settings.SIP_AUTH_PASSWORD = "", ""
    root = ET.fromstring(dial_sip_twiml("+14155550100"))
    sip = root.find("Dial/Sip")
    assert sip.text == "sip:+14155550100@203.0.113.7:5070" and not sip.attrib

    settings.SIP_AUTH_USERNAME, settings.SIP_AUTH_PASSWORD = "twilio", 'p&ss"word'
    sip = ET.fromstring(dial_sip_twiml("+14155550100")).find("Dial/Sip")
    assert sip.attrib == {"username": "twilio", "password": 'p&ss"word'}
