"""Carriers' frames read with orjson read to what the standard library reads, and fail as it fails."""

import json
import math

import pytest

from telephony import frame_json

FRAMES = [
    # Twilio's own compact form and the emulators' (json.dumps, with spaces)
    '{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5",'
    '"payload":"/v7+/g=="},"streamSid":"MZ1"}',
    json.dumps({"event": "media", "streamId": "s", "media": {"payload": "/v7+/g==", "track": "inbound"}}),
    '{"event":"dtmf","dtmf":{"digit":"5"},"event":"mark"}',  # a duplicate key: the last one wins in both
    '{"event":"mark","mark":{"name":"turn-\\u00e9"}}',
]


@pytest.mark.parametrize("text", FRAMES, ids=range(len(FRAMES)))
def test_reads_what_json_reads(text):
    assert frame_json.loads(text) == json.loads(text)


def test_what_orjson_refuses_reads_as_json_reads_it():
    assert math.isnan(frame_json.loads('{"x": NaN}')["x"])
    assert frame_json.loads('{"x": Infinity}') == {"x": math.inf}


def test_what_json_cannot_read_fails_as_it_fails():
    with pytest.raises(RecursionError):  # the consumer's fault path (telephony/streams.py) counts on it
        frame_json.loads("[" * 10_000)
    with pytest.raises(ValueError):
        frame_json.loads('{"event": "media"')
