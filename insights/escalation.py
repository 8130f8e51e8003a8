"""SLA escalation in levels: who hears of a breach that nobody resolves.

- Level 0, the store: its managers are told at the breach (insights.sla records it; notifications routes `sla.*`).
- Level 1, the brand: still unresolved `brand_after_hours` after the breach was detected (the brand's own
  EscalationSetting, edited in the admin; else INSIGHTS_ESCALATE_BRAND_AFTER_HOURS), its merchant admins are told:
  event `breach.escalated_to_brand`, `brand_escalated_at` set.
- Level 2, the platform: still unresolved INSIGHTS_ESCALATE_PLATFORM_AFTER_HOURS after the brand was told, the
  platform's operators are told: event `breach.escalated_to_platform`, `platform_escalated_at` set.

Each level happens once: under the order's row lock (then the breach's), and by a conditional UPDATE of the
level's column `WHERE <column> IS NULL`, so a second run, or two workers at once, change and send nothing more.

"Unresolved" is judged under the lock, per breach kind (`_judge`): the stage still open and past its (moved) due time
with its clock running; the approval still awaited; the missed visit not rebooked; the installment still due (asked
of payments through workflows.hooks.sla_still_overdue). A breach found over (the stage done or cancelled, the order
no longer active...) gets `resolved_at` and leaves both walks; one only paused (its clock stopped while the order
waits on the consumer, or its due time moved past now by a pause) is looked at again by the next run.

The scan walks two partial indexes with keyset pagination (insights.sla._keyset): breaches not yet told to the brand
and not resolved, by `detected_at`; breaches told to the brand, not yet to the platform and not resolved, by
`brand_escalated_at`. Escalated or resolved breaches leave the indexes, so a run never walks the whole history.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from insights import events
from insights.conf import setting
from insights.models import EscalationSetting, SlaBreach
from insights.sla import OPEN_STAGE_STATES, _keyset
from workflows import engine, hooks
from workflows.models import Appointment, ServiceOrder, StageInstance

logger = logging.getLogger(__name__)
Kind = SlaBreach.Kind
S = StageInstance.State
BRAND, PLATFORM = "brand", "platform"
OPEN, WAITING, RESOLVED = "open", "waiting", "resolved"
_FIELD = {BRAND: "brand_escalated_at", PLATFORM: "platform_escalated_at"}
_FIELDS = ("pk", "order_id", "merchant_id", "kind", "stage_id", "appointment_id", "installment_id", "detected_at",
           "brand_escalated_at")


def brand_delays() -> tuple[dict[int, int], int]:
    """Each brand's own delay (hours) by merchant id, and the platform's default for the others."""
    return (dict(EscalationSetting.objects.values_list("merchant_id", "brand_after_hours")),
            setting("INSIGHTS_ESCALATE_BRAND_AFTER_HOURS"))


def brand_pending(now: datetime, shortest_hours: int):
    """Breaches not yet told to the brand, unresolved, detected at least `shortest_hours` ago (partial index
    breach_brand_pending_idx)."""
    return (SlaBreach.objects.filter(brand_escalated_at__isnull=True, resolved_at__isnull=True,
                                     detected_at__lte=now - timedelta(hours=shortest_hours)).only(*_FIELDS))


def platform_pending(now: datetime, hours: int):
    """Breaches told to the brand at least `hours` ago, not yet to the platform, unresolved (partial index
    breach_platform_pending_idx)."""
    return (SlaBreach.objects.filter(platform_escalated_at__isnull=True, resolved_at__isnull=True,
                                     brand_escalated_at__isnull=False,
                                     brand_escalated_at__lte=now - timedelta(hours=hours)).only(*_FIELDS))


def _judge(breach: SlaBreach, order: ServiceOrder, now: datetime) -> str:
    """OPEN (still overdue: escalate), WAITING (not now: look again later) or RESOLVED (over for good)."""
    if order.is_final:
        return RESOLVED
    if breach.kind == Kind.INSTALLMENT_OVERDUE:
        check = hooks.sla_still_overdue(breach.kind)
        return OPEN if check is None or check(breach.installment_id) else RESOLVED
    stage = StageInstance.objects.filter(pk=breach.stage_id).only(
        "state", "sla_due_at", "sla_paused_at").first() if breach.stage_id else None
    if stage is None or stage.state not in OPEN_STAGE_STATES:
        return RESOLVED
    if breach.kind == Kind.APPROVAL_OVERDUE:
        return OPEN if stage.state == S.AWAITING_APPROVAL else RESOLVED
    if breach.kind == Kind.NO_SHOW:  # the missed visit rebooked (or the visit since made) resolves it
        rebooked = Appointment.objects.filter(stage_id=breach.stage_id, pk__gt=breach.appointment_id or 0).exclude(
            state__in=(Appointment.State.CANCELLED, Appointment.State.NO_SHOW)).exists()
        return RESOLVED if rebooked else OPEN
    if stage.sla_paused_at is not None or stage.sla_due_at is None or stage.sla_due_at >= now:
        return WAITING  # the clock stands still (the consumer's turn) or the due time moved on by a pause
    return OPEN


def _escalate(candidate: SlaBreach, level: str, hours: int, now: datetime) -> str | None:
    """Escalate one breach to `level` under the order's lock: the level's name, RESOLVED, or None (nothing done:
    another run did it first, or the breach only waits)."""
    field = _FIELD[level]
    with transaction.atomic():
        order = engine.lock_order(candidate.order_id)
        breach = SlaBreach.objects.select_for_update().only(*_FIELDS, "platform_escalated_at", "resolved_at").get(
            pk=candidate.pk)
        if getattr(breach, field) is not None or breach.resolved_at is not None:
            return None
        if level == PLATFORM and breach.brand_escalated_at is None:
            return None
        verdict = _judge(breach, order, now)
        if verdict == RESOLVED:
            SlaBreach.objects.filter(pk=breach.pk, resolved_at__isnull=True).update(resolved_at=now)
            return RESOLVED
        if verdict == WAITING:
            return None
        # The database's word: only the run whose UPDATE finds the column empty tells anyone.
        if not SlaBreach.objects.filter(pk=breach.pk, **{f"{field}__isnull": True}).update(**{field: now}):
            return None
        events.breach_escalated(order=order, breach=breach, level=level, hours=hours)
        return level


def escalation_scan(*, now: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Escalate every breach whose next level is due; returns how many went to each level and how many were found
    resolved. Safe to run at any time, twice, or in two workers at once."""
    now = now or timezone.now()
    batch_size = batch_size or setting("INSIGHTS_SLA_SCAN_BATCH_SIZE")
    counts = {BRAND: 0, PLATFORM: 0, RESOLVED: 0}
    delays, default = brand_delays()
    for batch in _keyset(brand_pending(now, min([default, *delays.values()])), batch_size, by="detected_at"):
        for breach in batch:
            hours = delays.get(breach.merchant_id, default)
            if breach.detected_at + timedelta(hours=hours) > now:
                continue  # this brand waits longer
            if outcome := _escalate(breach, BRAND, hours, now):
                counts[outcome] += 1
    platform_hours = setting("INSIGHTS_ESCALATE_PLATFORM_AFTER_HOURS")
    for batch in _keyset(platform_pending(now, platform_hours), batch_size, by="brand_escalated_at"):
        for breach in batch:
            if outcome := _escalate(breach, PLATFORM, platform_hours, now):
                counts[outcome] += 1
    if any(counts.values()):
        logger.info("sla escalation %s", counts)
    return counts
