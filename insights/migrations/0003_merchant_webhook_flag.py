from django.db import migrations


def set_flags(apps, schema_editor):
    Merchant = apps.get_model("tenancy", "Merchant")
    WebhookEndpoint = apps.get_model("insights", "WebhookEndpoint")
    with_webhooks = WebhookEndpoint.objects.filter(active=True).values("merchant_id")
    Merchant.objects.filter(pk__in=with_webhooks).update(has_active_webhooks=True)


class Migration(migrations.Migration):
    """Fill Merchant.has_active_webhooks (kept by insights.webhooks from now on) for existing endpoints."""

    dependencies = [
        ("insights", "0002_scan_indexes_event_log_append_only"),
        ("tenancy", "0002_merchant_has_active_webhooks"),
    ]

    operations = [migrations.RunPython(set_flags, migrations.RunPython.noop)]
