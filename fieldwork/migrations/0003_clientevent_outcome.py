"""A stored client event keeps the action's outcome (recorded / completed / stale) and its data, not an HTTP
status and body: the API shapes responses. Existing rows: 201 -> recorded, 200 -> completed, 409 -> stale (its
body's code and detail dropped: the API words them)."""

from django.db import migrations, models

OUTCOME_BY_STATUS = {201: "recorded", 200: "completed", 409: "stale"}


def forwards(apps, schema_editor):
    ClientEvent = apps.get_model("fieldwork", "ClientEvent")
    for row in ClientEvent.objects.all().only("pk", "response_status", "response_body").iterator():
        result = dict(row.response_body or {})
        if row.response_status == 409:
            result = {"job": result.get("job"), "reason": result.get("reason")}
        ClientEvent.objects.filter(pk=row.pk).update(
            outcome=OUTCOME_BY_STATUS.get(row.response_status, "recorded"), result=result)


def backwards(apps, schema_editor):
    ClientEvent = apps.get_model("fieldwork", "ClientEvent")
    status_by_outcome = {v: k for k, v in OUTCOME_BY_STATUS.items()}
    for row in ClientEvent.objects.all().only("pk", "outcome", "result").iterator():
        ClientEvent.objects.filter(pk=row.pk).update(response_status=status_by_outcome[row.outcome],
                                                     response_body=row.result)


class Migration(migrations.Migration):
    dependencies = [("fieldwork", "0002_checkin_minutes_early")]

    operations = [
        migrations.AddField("clientevent", "outcome", models.CharField(
            max_length=10, default="recorded",
            choices=[("recorded", "recorded"), ("completed", "completed"), ("stale", "stale")])),
        migrations.AddField("clientevent", "result", models.JSONField(default=dict)),
        migrations.AlterField("clientevent", "response_status", models.PositiveSmallIntegerField(null=True)),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField("clientevent", "response_status"),
        migrations.RemoveField("clientevent", "response_body"),
        migrations.AlterField("clientevent", "outcome", models.CharField(
            max_length=10, choices=[("recorded", "recorded"), ("completed", "completed"), ("stale", "stale")])),
    ]
