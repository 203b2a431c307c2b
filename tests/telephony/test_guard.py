"""The per-stream frame gate and the rate-limited warnings, on a hand-driven clock."""

from __future__ import annotations

import logging

from telephony.guard import OVER_RATE, OVERSIZED, FrameGate, RateLimitedWarnings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_carrier_pace_with_a_catch_up_burst_passes_and_a_flood_is_cut_to_the_rate():
    """Thrown: 10 s at a carrier's 50 frames/s, a 200-frame catch-up burst, then 1,000 frames/s for
    2 s. Survives: everything until the flood; during it about the rate passes, the rest is counted."""
    clock = Clock()
    gate = FrameGate(max_bytes=65536, rate=100, burst=250, clock=clock)
    for _ in range(500):
        clock.now += 0.02
        assert gate.admit(300) is None
    assert all(gate.admit(300) is None for _ in range(200))
    clock.now += 3.0  # the bucket refills
    passed = 0
    for _ in range(2000):
        clock.now += 0.001
        passed += gate.admit(300) is None
    assert 250 + 190 <= passed <= 250 + 200 + 1
    assert gate.dropped[OVER_RATE] == 2000 - passed


def test_an_oversized_frame_is_dropped_before_it_costs_a_token():
    clock = Clock()
    gate = FrameGate(max_bytes=1000, rate=100, burst=1, clock=clock)
    assert gate.admit(1001) == OVERSIZED
    assert gate.admit(1000) is None
    assert gate.dropped == {OVERSIZED: 1}


def test_warnings_are_one_line_per_kind_per_interval_with_the_count_held_back(caplog):
    clock = Clock()
    warnings = RateLimitedWarnings(logging.getLogger("test.guard"), interval=10, clock=clock)
    with caplog.at_level(logging.WARNING, "test.guard"):
        for _ in range(1000):
            warnings.warn("over rate", "dropped %s", "x")
            warnings.warn("malformed", "bad %s", "y")
            clock.now += 0.005  # 5 s in all: one line per kind
        clock.now += 6
        warnings.warn("over rate", "dropped %s", "x")
    assert [r.getMessage() for r in caplog.records] == [
        "dropped x",
        "bad y",
        "dropped x (and 999 more like it in the last 10 s)",
    ]
    assert warnings.held_back == {"malformed": 999}
