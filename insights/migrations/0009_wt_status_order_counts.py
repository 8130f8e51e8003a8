"""The orders by status per creation day (insights.order_counts): partial indexes on the orders' `completed_at` and
`cancelled_at`, so the roll-up job finds the orders finished since its last run and a request the orders finished
since the roll-up without reading every order, and one on (store, created_at) for the job's recount of a store's
creation day; and the roll-up starts again from the beginning at its next run (no
rolled day has the orders' rows yet; until then every request reads its whole window live)."""

from django.db import migrations

INDEXES = [("insights_order_completed_idx", "completed_at", "completed_at IS NOT NULL"),
           ("insights_order_cancelled_idx", "cancelled_at", "cancelled_at IS NOT NULL"),
           ("insights_order_store_created_idx", "store_id, created_at", None)]


def roll_again(apps, schema_editor):
    apps.get_model("insights", "RollupState").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("insights", "0008_rollup_done_stage_index")]

    operations = [
        *(migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON workflows_serviceorder ({columns})" + (f" WHERE {where}" if where else ""),
            f"DROP INDEX IF EXISTS {name}") for name, columns, where in INDEXES),
        migrations.RunPython(roll_again, migrations.RunPython.noop),
    ]
