"""The SLA scan's steady state stops growing with the backlog of recorded breaches: a stage whose overdue (or
approval-overdue) breach is recorded is marked (workflows' StageInstance.sla_overdue_reported_at,
approval_overdue_reported_at, set by insights.sla) and leaves the scan's partial indexes, as the payments app's
installments do with `overdue_reported_at`. Existing breaches mark their stages here."""

from django.db import migrations

OPEN = "state IN ('ready', 'scheduled', 'in_progress', 'awaiting_approval', 'escalated', 'waiting_payment')"
NEW = [
    ("insights_stage_open_sla_idx", "sla_due_at", f"{OPEN} AND sla_overdue_reported_at IS NULL"),
    ("insights_stage_awaiting_idx", "submitted_at",
     "state = 'awaiting_approval' AND approval_overdue_reported_at IS NULL"),
]
OLD = [
    ("insights_stage_open_sla_idx", "sla_due_at", OPEN),
    ("insights_stage_awaiting_idx", "submitted_at", "state = 'awaiting_approval'"),
]
MARKS = [("stage_overdue", "sla_overdue_reported_at"), ("approval_overdue", "approval_overdue_reported_at")]


def _indexes(specs):
    def run(apps, schema_editor):
        for name, column, where in specs:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
            schema_editor.execute(f"CREATE INDEX {name} ON workflows_stageinstance ({column}) WHERE {where}")
    return run


def mark_recorded(apps, schema_editor):
    for kind, column in MARKS:
        schema_editor.execute(
            f"UPDATE workflows_stageinstance SET {column} = b.detected_at FROM insights_slabreach b "  # noqa: S608
            f"WHERE b.stage_id = workflows_stageinstance.id AND b.kind = %s "
            f"AND b.appointment_id IS NULL AND b.installment_id IS NULL", [kind])


class Migration(migrations.Migration):
    dependencies = [("insights", "0005_esc_breach_escalation_levels"), ("workflows", "0011_rollup_sla_reported_marks")]

    operations = [
        migrations.RunPython(mark_recorded, migrations.RunPython.noop),
        migrations.RunPython(_indexes(NEW), _indexes(OLD)),
    ]
