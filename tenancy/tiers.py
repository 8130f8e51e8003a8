"""Merchant tiers (商家分层): what each tier may use, decided here and nowhere else.

The admin and the API both call `tier_require` / `tier_check_template`, so a merchant gets the
same clear message wherever it reaches a limit.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError
from tenancy.models import Merchant

Tier = Merchant.Tier

CAPABILITIES: dict[str, dict] = {
    Tier.BASIC: {
        "max_stages": 5,
        "rework_loops": False,
        "store_overrides": False,
        "metrics": False,
        "template_api": False,
        "outbound_webhooks": False,
    },
    Tier.GROWTH: {
        "max_stages": 15,
        "rework_loops": True,
        "store_overrides": True,
        "metrics": True,
        "template_api": False,
        "outbound_webhooks": False,
    },
    Tier.ENTERPRISE: {
        "max_stages": None,
        "rework_loops": True,
        "store_overrides": True,
        "metrics": True,
        "template_api": True,
        "outbound_webhooks": True,
    },
}

DESCRIPTIONS = {
    "rework_loops": gettext_lazy("rework loops after a rejected approval"),
    "store_overrides": gettext_lazy("store-level adjustments within the brand's bounds"),
    "metrics": gettext_lazy("the metrics API and dashboard"),
    "template_api": gettext_lazy("the template API"),
    "outbound_webhooks": gettext_lazy("outbound webhooks to your own systems"),
}


class TierLimit(DomainError):
    code = "tier_limit"
    status_code = 403


def tier_allows(merchant: Merchant, capability: str) -> bool:
    return bool(CAPABILITIES[merchant.tier][capability])


def tier_require(merchant: Merchant, capability: str) -> None:
    if not tier_allows(merchant, capability):
        raise TierLimit(
            _("The %(tier)s tier does not include %(capability)s; ask the platform to upgrade your tier.")
            % {"tier": merchant.get_tier_display(), "capability": DESCRIPTIONS[capability]},
            capability=capability,
            tier=merchant.tier,
        )


def tier_check_template(merchant: Merchant, stages: list[dict]) -> None:
    caps = CAPABILITIES[merchant.tier]
    if caps["max_stages"] is not None and len(stages) > caps["max_stages"]:
        raise TierLimit(
            _("The %(tier)s tier allows workflows of up to %(most)s stages; this one has %(count)s.")
            % {"tier": merchant.get_tier_display(), "most": caps["max_stages"], "count": len(stages)},
            capability="max_stages",
            tier=merchant.tier,
        )
    if not caps["rework_loops"] and any(
        s.get("requires_approval") and s.get("max_rework_rounds", 2) > 0 for s in stages
    ):
        tier_require(merchant, "rework_loops")
