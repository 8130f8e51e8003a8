"""The event chain's tail on the order row (workflows.chain_tail): two columns, the trigger that keeps them with
every event inserted, and each existing order's tail filled from its log."""

from django.db import migrations, models

from workflows.chain_tail import DROP_TRIGGER_SQL, FILL_SQL, TRIGGER_SQL


def create_trigger(apps, schema_editor):
    for sql in TRIGGER_SQL.get(schema_editor.connection.vendor, ()):
        schema_editor.execute(sql, params=None)


def drop_trigger(apps, schema_editor):
    for sql in DROP_TRIGGER_SQL.get(schema_editor.connection.vendor, ()):
        schema_editor.execute(sql, params=None)


def fill(apps, schema_editor):
    schema_editor.execute(FILL_SQL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0011_rollup_sla_reported_marks'),
    ]

    operations = [
        migrations.AddField(
            model_name='serviceorder',
            name='event_tail_hash',
            field=models.CharField(blank=True, default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='serviceorder',
            name='event_tail_seq',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
