"""The warm transfer record on a call (handoff_to, handoff_outcome, handoff_seconds).

On SQLite, adding a NOT NULL column rebuilds calls_call, which drops the triggers that keep the summary
search index (0009) in step; they are created again afterwards (and after the reverse).
"""

import importlib

from django.db import migrations, models


def restore_summary_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    search = importlib.import_module("calls.migrations.0009_transcript_search")
    for create, drop in search.SQLITE:
        if create.startswith("CREATE TRIGGER") and " ON calls_call " in create:
            schema_editor.execute(drop)
            schema_editor.execute(create)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0009_transcript_search"),
    ]

    operations = [
        # Reversed last: removing the columns rebuilds the table again.
        migrations.RunPython(migrations.RunPython.noop, restore_summary_triggers),
        migrations.AddField(
            model_name="call",
            name="handoff_outcome",
            field=models.CharField(
                blank=True,
                choices=[
                    ("accepted", "Accepted (the caller was handed to the person)"),
                    ("declined", "Declined by the person"),
                    ("no-answer", "No answer"),
                    ("busy", "Busy"),
                    ("failed", "Failed (the dial did not go through)"),
                    ("closed", "Closed (outside the target's hours)"),
                    ("abandoned", "Abandoned (the caller hung up on hold)"),
                ],
                db_default="",
                default="",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="call",
            name="handoff_seconds",
            field=models.FloatField(
                blank=True, help_text="From the agent's warm transfer request to its outcome.", null=True
            ),
        ),
        migrations.AddField(
            model_name="call",
            name="handoff_to",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="The transfer target of the agent's last warm transfer.",
                max_length=80,
            ),
        ),
        migrations.RunPython(restore_summary_triggers, migrations.RunPython.noop),
    ]
