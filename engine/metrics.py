"""Per-call figures: response latency, barge-ins, frames, tools, reconnects."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CallMetrics:
    turn_latencies_ms: list[float] = field(default_factory=list)
    barge_ins: int = 0
    tool_calls: int = 0
    reconnects: int = 0
    turns: int = 0

    def payload(self, frames_in: int, frames_out: int, frames_dropped: int) -> dict:
        lat = sorted(self.turn_latencies_ms)
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else None
        return {
            "first_response_ms": round(self.turn_latencies_ms[0], 1) if lat else None,
            "mean_turn_latency_ms": round(sum(lat) / len(lat), 1) if lat else None,
            "p95_turn_latency_ms": round(p95, 1) if p95 is not None else None,
            "turns": self.turns,
            "barge_ins": self.barge_ins,
            "frames_in": frames_in,
            "frames_out": frames_out,
            "frames_dropped": frames_dropped,
            "tool_calls": self.tool_calls,
            "reconnects": self.reconnects,
        }
