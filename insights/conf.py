"""Settings of the insights app, with their defaults (override any of them in settings)."""

from django.conf import settings

DEFAULTS = {
    # SLA monitor
    "INSIGHTS_SLA_SCAN_BATCH_SIZE": 500,
    "INSIGHTS_APPROVAL_WAIT_HOURS": 72,  # a stage awaiting the consumer's approval longer than this
    "INSIGHTS_AT_RISK_HOURS": 24,  # dashboard: stages whose SLA ends within this many hours
    # per-day roll-ups (insights.rollups): each run rolls up to this many minutes ago, and the last rolled day and
    # this many days before it again, for facts committed late
    "INSIGHTS_ROLLUP_MARGIN_MINUTES": 10,
    "INSIGHTS_ROLLUP_REDO_DAYS": 2,
    # escalation (insights.escalation): an unresolved breach goes to the brand's admins this long after the store
    # was told (a brand may set its own: EscalationSetting), then to the platform's operators this much later
    "INSIGHTS_ESCALATE_BRAND_AFTER_HOURS": 4,
    "INSIGHTS_ESCALATE_PLATFORM_AFTER_HOURS": 24,
    # outbound webhooks
    "OUTBOUND_WEBHOOK_TIMEOUT_SECONDS": 10,
    "OUTBOUND_WEBHOOK_MAX_ATTEMPTS": 8,
    "OUTBOUND_WEBHOOK_BACKOFF_SECONDS": 60,  # 60 s, 2 min, 4 min, ... capped below
    "OUTBOUND_WEBHOOK_BACKOFF_MAX_SECONDS": 6 * 3600,
    # Merchant URLs resolving to loopback/private/link-local addresses are refused unless this is on
    # (tests and local demos deliver to 127.0.0.1).
    "OUTBOUND_WEBHOOK_ALLOW_PRIVATE_HOSTS": False,
}


def setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
