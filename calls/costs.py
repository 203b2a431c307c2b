"""The cost of a call: its tokens per modality times the price table in settings (GEMINI_PRICES).

Prices are per million tokens, per model and modality, each entry dated and naming its source. A model,
or a modality the call used, with no price gives no cost (shown "—"): never a guess.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

MILLION = Decimal(1_000_000)
QUANT = Decimal("0.000001")


def price_entry(model: str) -> dict[str, Any] | None:
    """The price table's entry for a Live model id (with or without `models/`), or None."""
    prices = settings.GEMINI_PRICES or {}
    return prices.get(model.removeprefix("models/")) if model else None


def _price(entry: dict[str, Any], side: str, modality: str) -> Decimal | None:
    value = (entry.get(side) or {}).get(modality)
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def cost_of(model: str, tokens: dict[str, dict[str, int]]) -> tuple[Decimal | None, str]:
    """(cost, basis) for `tokens` = {"input": {modality: n}, "output": {modality: n}} on `model`.

    The cost is None when the model or a modality with tokens has no price; `basis` says which prices
    were used (model, date, source) or what is missing.
    """
    entry = price_entry(model)
    if entry is None:
        return None, f"no price for {model or 'an unknown model'} in GEMINI_PRICES"
    total = Decimal(0)
    for side in ("input", "output"):
        for modality, count in (tokens.get(side) or {}).items():
            if not count:
                continue
            price = _price(entry, side, modality)
            if price is None:
                return None, f"no {side} price for {modality} on {model} in GEMINI_PRICES"
            total += price * count / MILLION
    currency = entry.get("currency", "USD")
    basis = f"{model}: {currency} prices as of {entry.get('as_of', '?')} ({entry.get('source', 'no source given')})"
    return total.quantize(QUANT), basis[:300]
