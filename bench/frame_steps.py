"""CPU of the per-frame steps of reading a carrier's media frame, the way before issue 16's last changes
against the way now, side by side in one process.

    .venv/bin/python bench/frame_steps.py [--runs 5] [--number 20000]

Each row is one step on a Twilio media frame as Twilio sends it (20 ms of u-law, 390 characters of JSON)
or on a 40 ms agent frame: reading the JSON (`json.loads` against `telephony.frame_json.loads`), the
base64 payload (`b64decode(validate=True)` against `binascii.a2b_base64(strict_mode=True)`), G.711
both ways (numpy's `take` on a 256- or 65,536-entry table against `engine.codec`, audioop), and the
two reading steps together before against the whole of `TwilioSerializer.parse` for a media frame now
(its checks and event included, so the last row understates the saving). µs per call, the minimum of the runs (timeit), both ways checked to
give the same result first.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")  # `engine` imports its models

import django  # noqa: E402
import numpy as np  # noqa: E402

django.setup()

from emulators.wire import g711  # noqa: E402  # the benchmark's own tables, from the standard's rule
from engine import codec  # noqa: E402
from telephony import frame_json  # noqa: E402
from telephony.twilio.serializer import TwilioSerializer  # noqa: E402

# The tables engine/codec.py looked G.711 up in before (built from the emulators' G.711 rule here).
_DECODE = np.frombuffer(g711.decode_ulaw(bytes(range(256))), dtype="<i2").copy()
_ENCODE = np.frombuffer(g711.encode_ulaw(np.arange(65536, dtype="<u2").astype("<i2").tobytes()), np.uint8)


def numpy_ulaw_to_pcm(data: bytes) -> bytes:
    return _DECODE.take(np.frombuffer(data, np.uint8)).tobytes()


def numpy_pcm_to_ulaw(pcm: bytes) -> bytes:
    return _ENCODE.take(np.frombuffer(pcm, "<u2", count=len(pcm) // 2)).tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()

    ulaw = os.urandom(160)
    pcm40 = codec.ulaw_to_pcm(os.urandom(320))
    encoded = base64.b64encode(ulaw).decode()
    frame = json.dumps(
        {
            "event": "media",
            "sequenceNumber": "13",
            "media": {"track": "inbound", "chunk": "12", "timestamp": "240", "payload": encoded},
            "streamSid": "MZ" + "a" * 32,
        },
        separators=(",", ":"),
    )
    serializer = TwilioSerializer()
    steps = [
        ("JSON of a media frame", lambda: json.loads(frame), lambda: frame_json.loads(frame)),
        (
            "base64 payload (20 ms)",
            lambda: base64.b64decode(encoded, validate=True),
            lambda: binascii.a2b_base64(encoded, strict_mode=True),
        ),
        ("u-law to PCM (20 ms)", lambda: numpy_ulaw_to_pcm(ulaw), lambda: codec.ulaw_to_pcm(ulaw)),
        ("PCM to u-law (40 ms)", lambda: numpy_pcm_to_ulaw(pcm40), lambda: codec.pcm_to_ulaw(pcm40)),
        (
            "JSON and payload together",
            lambda: base64.b64decode(json.loads(frame)["media"]["payload"], validate=True),
            lambda: serializer.parse(frame).payload,  # the serializer's whole media path, now
        ),
    ]
    print(f"µs per call, min of {args.runs} × {args.number} (load average {os.getloadavg()[0]:.2f})")
    print(f"{'step':<26} {'before':>8} {'now':>8}")
    for name, before, now in steps:
        assert before() == now(), name
        timings = []
        for fn in (before, now):
            best = min(timeit.repeat(fn, number=args.number, repeat=args.runs))
            timings.append(best / args.number * 1e6)
        print(f"{name:<26} {timings[0]:>8.2f} {timings[1]:>8.2f}")


if __name__ == "__main__":
    main()
