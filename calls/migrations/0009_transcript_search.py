"""Full-text indexes for searching what was said (calls/search.py), one kind per database."""

from django.db import migrations

POSTGRESQL = [
    (
        "CREATE INDEX IF NOT EXISTS calls_segment_fts ON calls_transcriptsegment "
        "USING gin (to_tsvector('simple', text))",
        "DROP INDEX IF EXISTS calls_segment_fts",
    ),
    (
        "CREATE INDEX IF NOT EXISTS calls_summary_fts ON calls_call USING gin (to_tsvector('simple', summary))",
        "DROP INDEX IF EXISTS calls_summary_fts",
    ),
]

# Segments have an integer primary key, so FTS5 can index them as external content by rowid. Calls have
# a UUID key (their rowid may change on VACUUM), so summaries go through a small map table.
SQLITE = [
    (
        "CREATE VIRTUAL TABLE calls_segment_fts USING fts5(text, content='calls_transcriptsegment', "
        "content_rowid='id')",
        "DROP TABLE IF EXISTS calls_segment_fts",
    ),
    (
        "CREATE TRIGGER calls_segment_fts_ai AFTER INSERT ON calls_transcriptsegment BEGIN "
        "INSERT INTO calls_segment_fts(rowid, text) VALUES (new.id, new.text); END",
        "DROP TRIGGER IF EXISTS calls_segment_fts_ai",
    ),
    (
        "CREATE TRIGGER calls_segment_fts_ad AFTER DELETE ON calls_transcriptsegment BEGIN "
        "INSERT INTO calls_segment_fts(calls_segment_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
        "DROP TRIGGER IF EXISTS calls_segment_fts_ad",
    ),
    (
        "CREATE TRIGGER calls_segment_fts_au AFTER UPDATE OF text ON calls_transcriptsegment BEGIN "
        "INSERT INTO calls_segment_fts(calls_segment_fts, rowid, text) VALUES ('delete', old.id, old.text); "
        "INSERT INTO calls_segment_fts(rowid, text) VALUES (new.id, new.text); END",
        "DROP TRIGGER IF EXISTS calls_segment_fts_au",
    ),
    (
        "INSERT INTO calls_segment_fts(calls_segment_fts) VALUES ('rebuild')",
        migrations.RunSQL.noop,
    ),
    (
        "CREATE TABLE calls_summary_fts_map (rowid INTEGER PRIMARY KEY, call_id char(32) NOT NULL UNIQUE)",
        "DROP TABLE IF EXISTS calls_summary_fts_map",
    ),
    ("CREATE VIRTUAL TABLE calls_summary_fts USING fts5(summary)", "DROP TABLE IF EXISTS calls_summary_fts"),
    (
        "CREATE TRIGGER calls_summary_fts_ai AFTER INSERT ON calls_call WHEN new.summary != '' BEGIN "
        "INSERT INTO calls_summary_fts_map(call_id) VALUES (new.id); "
        "INSERT INTO calls_summary_fts(rowid, summary) VALUES (last_insert_rowid(), new.summary); END",
        "DROP TRIGGER IF EXISTS calls_summary_fts_ai",
    ),
    (
        "CREATE TRIGGER calls_summary_fts_ad AFTER DELETE ON calls_call BEGIN "
        "DELETE FROM calls_summary_fts WHERE rowid = "
        "(SELECT rowid FROM calls_summary_fts_map WHERE call_id = old.id); "
        "DELETE FROM calls_summary_fts_map WHERE call_id = old.id; END",
        "DROP TRIGGER IF EXISTS calls_summary_fts_ad",
    ),
    (
        "CREATE TRIGGER calls_summary_fts_au AFTER UPDATE OF summary ON calls_call BEGIN "
        "DELETE FROM calls_summary_fts WHERE rowid = "
        "(SELECT rowid FROM calls_summary_fts_map WHERE call_id = old.id); "
        "DELETE FROM calls_summary_fts_map WHERE call_id = old.id; "
        "INSERT INTO calls_summary_fts_map(call_id) SELECT new.id WHERE new.summary != ''; "
        "INSERT INTO calls_summary_fts(rowid, summary) SELECT last_insert_rowid(), new.summary "
        "WHERE new.summary != ''; END",
        "DROP TRIGGER IF EXISTS calls_summary_fts_au",
    ),
    (
        "INSERT INTO calls_summary_fts_map(call_id) SELECT id FROM calls_call WHERE summary != ''; "
        "INSERT INTO calls_summary_fts(rowid, summary) SELECT m.rowid, c.summary FROM calls_summary_fts_map m "
        "JOIN calls_call c ON c.id = m.call_id",
        migrations.RunSQL.noop,
    ),
]


def _run(statements, index: int):
    def run(apps, schema_editor) -> None:
        for pair in statements.get(schema_editor.connection.vendor, []):
            sql = pair[index]
            if isinstance(sql, str):
                for statement in [sql] if "TRIGGER" in sql else sql.split("; "):
                    schema_editor.execute(statement)

    return run


STATEMENTS = {"postgresql": POSTGRESQL, "sqlite": SQLITE}


def backward_statements():
    return {vendor: list(reversed(pairs)) for vendor, pairs in STATEMENTS.items()}


class Migration(migrations.Migration):
    dependencies = [("calls", "0008_toolinvocation_seq_callmetrics_final")]

    operations = [migrations.RunPython(_run(STATEMENTS, 0), _run(backward_statements(), 1))]
