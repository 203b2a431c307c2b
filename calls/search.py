"""Finding calls by what was said: words in transcripts and summaries, as a phrase.

Each database searches with its own full-text index, built by migration 0009: PostgreSQL a GIN index on
`to_tsvector('simple', …)` of segment text and call summary (the `simple` configuration: agents speak many
languages, so no stemming that suits only one); SQLite FTS5 tables kept in step by triggers. Both match
whole words as a phrase, case-insensitively, so "order number" finds "Your ORDER number is…" and not
"reorder numbers". Phone numbers are still matched as substrings (the history's old search).
"""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

WORD = re.compile(r"\w+", re.UNICODE)

# The SQL that returns the ids of calls whose transcript or summary holds the phrase (%s).
_MATCHING_CALL_IDS = {
    "postgresql": (
        "SELECT call_id FROM calls_transcriptsegment "
        "WHERE to_tsvector('simple', text) @@ phraseto_tsquery('simple', %s) "
        "UNION SELECT id FROM calls_call WHERE to_tsvector('simple', summary) @@ phraseto_tsquery('simple', %s)"
    ),
    "sqlite": (
        "SELECT s.call_id FROM calls_transcriptsegment s JOIN calls_segment_fts f ON f.rowid = s.id "
        "WHERE calls_segment_fts MATCH %s "
        "UNION SELECT m.call_id FROM calls_summary_fts_map m JOIN calls_summary_fts f ON f.rowid = m.rowid "
        "WHERE calls_summary_fts MATCH %s"
    ),
}


def words(term: str) -> list[str]:
    """The words of a search, as the index splits them (punctuation never reaches the query syntax)."""
    return WORD.findall(term.lower())


def said(term: str) -> Q:
    """Calls whose transcript or summary contains `term`'s words as a phrase (nothing for no words)."""
    terms = words(term)
    if not terms:
        return Q(pk__in=[])
    vendor = connection.vendor
    if vendor == "sqlite":
        phrase = '"' + " ".join(terms) + '"'  # an FTS5 phrase: only \w+ words inside, nothing to escape
    else:
        phrase = " ".join(terms)
    sql = _MATCHING_CALL_IDS.get(vendor)
    if sql is None:  # another database: a plain (slow) scan, still correct
        return Q(segments__text__icontains=" ".join(terms)) | Q(summary__icontains=" ".join(terms))
    return Q(pk__in=RawSQL(sql, [phrase, phrase]))


def numbers(term: str) -> Q:
    """Calls from or to a number containing `term` (digits and +)."""
    return Q(from_number__contains=term) | Q(to_number__contains=term)


def highlight_pattern(term: str) -> re.Pattern[str] | None:
    """A pattern for the searched phrase in a segment's text, for the call page to mark."""
    terms = words(term)
    if not terms:
        return None
    return re.compile(r"\b" + r"\W+".join(re.escape(t) for t in terms) + r"\b", re.IGNORECASE)
