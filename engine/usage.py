"""Token usage of one call, from Gemini's `usageMetadata`.

Each message carries a cumulative snapshot for its connection, not an increment: the last snapshot of a
connection is what that connection used, and a call that reconnected (goAway, a dropped socket) used the
sum of its connections' last snapshots. An empty `usageMetadata` (observed) changes nothing.
"""

from __future__ import annotations

from typing import Any

MODALITIES = ("TEXT", "AUDIO")  # what a phone call uses; other modalities count only in the totals


def _snapshot(usage: Any) -> dict[str, Any]:
    def details(items: Any) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in items or ():
            modality = getattr(getattr(item, "modality", None), "value", None) or str(item.modality or "")
            out[modality] = out.get(modality, 0) + (item.token_count or 0)
        return out

    return {
        "prompt": usage.prompt_token_count or 0,
        "response": usage.response_token_count or 0,
        "total": usage.total_token_count or 0,
        "input": details(usage.prompt_tokens_details),
        "output": details(usage.response_tokens_details),
    }


def _add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {k: a.get(k, 0) + b.get(k, 0) for k in ("prompt", "response", "total")}
    for side in ("input", "output"):
        mods = {**a.get(side, {}), **b.get(side, {})}
        out[side] = {m: a.get(side, {}).get(m, 0) + b.get(side, {}).get(m, 0) for m in mods}
    return out


class UsageMeter:
    """The last snapshot of the current connection plus the sum of the earlier connections' last ones."""

    def __init__(self) -> None:
        self._earlier: dict[str, Any] = {}
        self._current: dict[str, Any] = {}

    def note(self, usage: Any) -> None:
        """A `usageMetadata` arrived on the current connection."""
        if usage is not None and (usage.prompt_token_count or usage.response_token_count):
            self._current = _snapshot(usage)

    def new_connection(self) -> None:
        """A new connection starts counting from zero: keep what the last one used."""
        self._earlier, self._current = _add(self._earlier, self._current), {}

    def totals(self) -> dict[str, Any]:
        """{"prompt", "response", "total", "input": {modality: n}, "output": {modality: n}} for the call."""
        return _add(self._earlier, self._current)
