"""insights stops depending on payments: a breach names its installment by id (no foreign key to
payments.Installment), and the scan's index on payments' table is dropped (payments now keeps its own partial
index for the scan it runs, payments 0004). Existing breaches keep their installment ids."""

from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [("insights", "0003_merchant_webhook_flag"), ("payments", "0004_installment_overdue_reported")]

    operations = [
        migrations.RemoveConstraint("slabreach", "one_stage_breach_per_kind"),
        migrations.RemoveConstraint("slabreach", "one_installment_breach_per_kind"),
        migrations.AlterField("slabreach", "installment", models.PositiveBigIntegerField(
            null=True, blank=True, db_column="installment_id")),
        migrations.RenameField("slabreach", "installment", "installment_id"),
        migrations.AlterField("slabreach", "installment_id", models.PositiveBigIntegerField(null=True, blank=True)),
        migrations.AddConstraint("slabreach", models.UniqueConstraint(
            fields=["kind", "stage"], name="one_stage_breach_per_kind",
            condition=Q(appointment__isnull=True, installment_id__isnull=True))),
        migrations.AddConstraint("slabreach", models.UniqueConstraint(
            fields=["kind", "installment_id"], name="one_installment_breach_per_kind",
            condition=Q(installment_id__isnull=False))),
        migrations.RunSQL("DROP INDEX IF EXISTS insights_installment_due_idx", migrations.RunSQL.noop),
    ]
