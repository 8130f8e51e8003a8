"""Indexes for the SLA monitor, and the database-level guard that keeps the event log append-only.

- Partial indexes on other apps' tables (workflows, payments) that only the SLA scan needs, so they
  live with the scan: open stages by `sla_due_at`, stages awaiting approval by `submitted_at`,
  due installments by `due_at`. SQLite and PostgreSQL both support partial indexes.
- PostgreSQL only: a trigger raising on UPDATE or DELETE of workflows_orderevent (SQLSTATE 23001
  restrict_violation, which Django raises as IntegrityError). Together with the hash chain
  (workflows.events) this makes the log append-only and tamper-evident; TRUNCATE (test flushes)
  is not a row operation and is not blocked.
"""

from django.db import migrations

INDEXES = [
    ("insights_stage_open_sla_idx", "workflows_stageinstance", "sla_due_at",
     "state IN ('ready', 'scheduled', 'in_progress', 'awaiting_approval', 'escalated', 'waiting_payment')"),
    ("insights_stage_awaiting_idx", "workflows_stageinstance", "submitted_at", "state = 'awaiting_approval'"),
    ("insights_installment_due_idx", "payments_installment", "due_at", "state = 'due'"),
]

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION workflows_orderevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'workflows_orderevent is append-only: % of event % refused', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS workflows_orderevent_append_only ON workflows_orderevent;
CREATE TRIGGER workflows_orderevent_append_only
    BEFORE UPDATE OR DELETE ON workflows_orderevent
    FOR EACH ROW EXECUTE FUNCTION workflows_orderevent_append_only();
"""

DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS workflows_orderevent_append_only ON workflows_orderevent;
DROP FUNCTION IF EXISTS workflows_orderevent_append_only();
"""


def create_indexes(apps, schema_editor):
    for name, table, column, where in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column}) WHERE {where}")


def drop_indexes(apps, schema_editor):
    for name, *_ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_initial"),
        ("workflows", "0001_initial"),
        ("payments", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
