"""Small formatting filters for the dashboard templates."""

from __future__ import annotations

import json

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from calls import search
from calls.display import when as _when

register = template.Library()


@register.filter
def when(value) -> str:
    """A date and time as every page shows it (calls/display.py): 2026-12-02 09:41:07 UTC."""
    return _when(value)


@register.filter
def mmss(milliseconds) -> str:
    """12345 → "0:12": a transcript timestamp from the call's answer."""
    if milliseconds in (None, ""):
        return ""
    seconds = int(milliseconds) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


@register.filter
def ms(value) -> str:
    if value in (None, ""):
        return "—"
    return f"{float(value):.0f} ms"


@register.filter
def pretty_json(value) -> str:
    if value is None:
        return "—"
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def percent(value) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.0f}%"


@register.filter
def make_list_of_days(value: str) -> list[int]:
    """ "7 14 30" → [7, 14, 30] (the overview's period choices)."""
    return [int(part) for part in value.split()]


@register.filter
def money(value) -> str:
    """A cost, or "—" when it is unknown (a price missing from GEMINI_PRICES): never a guess."""
    if value in (None, ""):
        return "—"
    return f"{value:.4f}"


@register.filter
def highlight(text, term) -> str:
    """`text` escaped, with the searched phrase (calls/search.py) wrapped in <mark>."""
    text = str(text)
    pattern = search.highlight_pattern(str(term or ""))
    if pattern is None:
        return conditional_escape(text)
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(conditional_escape(text[last : match.start()]))
        out.append(mark_safe(f"<mark>{conditional_escape(match.group(0))}</mark>"))
        last = match.end()
    out.append(conditional_escape(text[last:]))
    return mark_safe("".join(str(part) for part in out))
