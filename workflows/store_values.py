"""The values an order uses where its store may differ from the template (二次开发, bounded).

A brand opens knobs per template (`StoreBounds`); a store sets its values on its distribution of the
template (`TemplateDistribution`). `store_values_for` answers what an order of that store uses: the store's
value where the knob is open, the merchant's tier includes store overrides and the value is within the
brand's current bounds; the template's own value otherwise (a bound tightened later, or a knob closed, puts the
stores back on the template's values without touching what they saved).

Values are read when they are used: a visit's length when its slots are offered or it is booked, a stage's SLA
when its clock starts, the checklist while the technician works, the reminder lead when reminders are made.
An order's values are kept in the cache (`order_store_values`: a check-in, a check-out, a booking read no row for
them) while nothing they come from changes: a save or deletion of a distribution, of bounds or of a merchant (its
tier) makes every kept entry stale at once, and again when its transaction commits (a look-up racing the change may
have kept the old values). Only with a cache every process shares (as the token cache: core.authentication).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from core.shared_cache import shared_cache_seconds
from tenancy.models import Merchant
from tenancy.tiers import tier_allows
from workflows.models import StageDefinition, StoreBounds, TemplateDistribution

# The widest bounds a brand may give (the template studio's own limits for appointment lengths).
APPOINTMENT_MINUTES_RANGE = (15, 12 * 60)
REMINDER_HOURS_RANGE = (1, 7 * 24)
CHECKLIST_MAX_ITEMS = 10
CHECKLIST_ITEM_LENGTH = 200


@dataclass(frozen=True)
class StoreValues:
    appointment_minutes: dict[str, int] = field(default_factory=dict)
    sla_hours: dict[str, int] = field(default_factory=dict)
    extra_checklist: dict[str, list[str]] = field(default_factory=dict)
    reminder_lead_hours: int | None = None

    def appointment_minutes_of(self, definition: StageDefinition) -> int:
        return self.appointment_minutes.get(definition.code, definition.appointment_minutes)

    def sla_hours_of(self, definition: StageDefinition) -> int | None:
        """Tighter only: the store's hours when below the template's (a stage without an SLA keeps none)."""
        own = self.sla_hours.get(definition.code)
        if definition.sla_hours and own is not None and own <= definition.sla_hours:
            return own
        return definition.sla_hours

    def checklist_of(self, definition: StageDefinition) -> list[str]:
        """The stage's checklist with the store's items after the brand's."""
        own = list(definition.checklist or [])
        return own + [i for i in self.extra_checklist.get(definition.code, []) if i not in own]


NONE = StoreValues()


def _ints_within(values, low: int, high: int) -> dict[str, int]:
    if not isinstance(values, dict):
        return {}
    return {code: v for code, v in values.items()
            if isinstance(v, int) and not isinstance(v, bool) and low <= v <= high}


def effective_values(distribution: TemplateDistribution | None, bounds: StoreBounds | None,
                     merchant) -> StoreValues:
    """What the store's saved values amount to under the brand's current bounds and the merchant's tier."""
    if distribution is None or bounds is None or not tier_allows(merchant, "store_overrides"):
        return NONE
    minutes, sla, extra = {}, {}, {}
    if bounds.appointment_open:
        minutes = _ints_within(distribution.appointment_minutes_overrides,
                               bounds.appointment_min_minutes, bounds.appointment_max_minutes)
    if bounds.sla_open:
        sla = _ints_within(distribution.sla_hours_overrides, 1, 10**6)
    if bounds.checklist_open and isinstance(distribution.extra_checklist, dict):
        extra = {c: items[:bounds.checklist_max_items] for c, items in distribution.extra_checklist.items()
                 if isinstance(items, list) and all(isinstance(i, str) for i in items)}
    lead = distribution.reminder_lead_hours
    if not (bounds.reminder_open and lead is not None
            and bounds.reminder_min_hours <= lead <= bounds.reminder_max_hours):
        lead = None
    return StoreValues(appointment_minutes=minutes, sla_hours=sla, extra_checklist=extra, reminder_lead_hours=lead)


def store_values_for(*, store_id: int, template_id: int | None = None, version_id: int | None = None
                     ) -> StoreValues:
    """The values orders of a template (or of one of its versions) at `store_id` use (one query)."""
    where = {"template_id": template_id} if version_id is None else {"template__versions": version_id}
    dist = (TemplateDistribution.objects.filter(store_id=store_id, **where)
            .select_related("template__store_bounds", "template__merchant").first())
    if dist is None:
        return NONE
    bounds = dist.template.store_bounds if _has_bounds(dist.template) else None
    return effective_values(dist, bounds, dist.template.merchant)


def _has_bounds(template) -> bool:
    try:
        template.store_bounds  # noqa: B018 - a reverse one-to-one raises when absent
    except StoreBounds.DoesNotExist:
        return False
    return True


def order_store_values(order) -> StoreValues:
    """The store's values for `order` (kept on the instance for the request, and in the shared cache)."""
    cached = getattr(order, "_store_values", None)
    if cached is None:
        cached = _kept(order.store_id, order.template_version_id)
        order._store_values = cached
    return cached


_GENERATION = "store-values:generation"  # a new token whenever a source changes: entries of an older one are stale


def _kept(store_id: int, version_id: int) -> StoreValues:
    ttl = shared_cache_seconds("STORE_VALUES_CACHE_SECONDS", "STORE_VALUES_CACHE_IN_PROCESS")
    if ttl <= 0:
        return store_values_for(version_id=version_id, store_id=store_id)
    key = f"store-values:{store_id}:{version_id}"
    found = cache.get_many([_GENERATION, key])  # one round trip
    generation = found.get(_GENERATION)
    entry = found.get(key)
    if generation is not None and entry is not None and entry[0] == generation:
        return entry[1]
    if generation is None:
        generation = uuid.uuid4().hex
        cache.add(_GENERATION, generation, None)
        generation = cache.get(_GENERATION, generation)
    values = store_values_for(version_id=version_id, store_id=store_id)  # read after the generation: see above
    cache.set(key, (generation, values), ttl)
    return values


def _renew_generation() -> None:
    cache.set(_GENERATION, uuid.uuid4().hex, None)


def _source_changed(sender, **kwargs) -> None:
    _renew_generation()
    transaction.on_commit(_renew_generation)


def connect_store_values_cache() -> None:
    """Make kept values stale when a distribution, bounds or a merchant changes (WorkflowsConfig.ready)."""
    for model in (TemplateDistribution, StoreBounds, Merchant):
        for signal in (post_save, post_delete):
            uid = f"store-values-{model.__name__}-{signal is post_save}"
            signal.connect(_source_changed, sender=model, dispatch_uid=uid)
