"""Per-day histograms of the stage durations (insights.histograms). The roll-up's state is forgotten, so that the next
run of the job rolls all history again, histograms included (a window reads histograms for every day the state says
is rolled); until then every window is computed live."""

import django.db.models.deletion
from django.db import migrations, models


def roll_everything_again(apps, schema_editor):
    apps.get_model("insights", "RollupState").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('insights', '0008_rollup_done_stage_index'),
        ('tenancy', '0006_brand_skills'),
    ]

    operations = [
        migrations.CreateModel(
            name='DayHistogram',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('code', models.CharField(max_length=60)),
                ('counts', models.JSONField(default=dict)),
                ('cumulative', models.JSONField(default=dict)),
                ('merchant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant')),
                ('store', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.store')),
            ],
            options={
                'indexes': [models.Index(fields=['merchant', 'store', 'code', 'day'], name='insights_dayhist_group_idx'), models.Index(fields=['store', 'code', 'day'], name='insights_dayhist_store_idx')],
                'constraints': [models.UniqueConstraint(fields=('day', 'merchant', 'store', 'code'), name='one_day_histogram')],
            },
        ),
        migrations.RunPython(roll_everything_again, migrations.RunPython.noop),
    ]
