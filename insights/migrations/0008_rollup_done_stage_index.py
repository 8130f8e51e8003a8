"""The live rest of a metrics window (today, days not rolled up yet) reads the stages done since a given time: a
partial index on done stages by `completed_at` keeps that read proportional to the stages done since, not to
every stage (insights.rollups)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("insights", "0007_rollup_day_figures")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS insights_stage_done_idx ON workflows_stageinstance (completed_at) "
            "WHERE state = 'done'",
            "DROP INDEX IF EXISTS insights_stage_done_idx"),
    ]
