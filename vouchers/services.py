"""Write operations on vouchers: issue, redeem, expire, revoke, remind.

Every state change has the same shape: lock the order (engine.lock_order), then the voucher
row, change the state through the FSM transition, and append an order event. Events never
carry the code.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, NotFound
from tenancy import policy
from tenancy.models import User
from vouchers import codes, crypto, events, throttle
from vouchers.models import Voucher, VoucherLockout
from workflows import engine, hooks
from workflows.models import Appointment, ServiceOrder, StageInstance

logger = logging.getLogger(__name__)
Role = User.Role
S = StageInstance.State
REDEEMABLE_STAGE_STATES = (S.SCHEDULED, S.IN_PROGRESS)


class InvalidVoucherCode(DomainError):
    """This is not a valid voucher code: check it for typos."""

    code = "invalid_code"
    status_code = 400


class VoucherNotFound(NotFound):
    """No voucher with this code."""

    code = "voucher_not_found"


def _not_found() -> VoucherNotFound:
    # One body for "no such code", "another store's or brand's code" and "another stage's code".
    return VoucherNotFound(_("No voucher with this code can be redeemed here."))


# --- issue ---------------------------------------------------------------------------------


def voucher_issue(*, order: ServiceOrder, stage: StageInstance, now: datetime | None = None) -> Voucher | None:
    """Issue the stage's voucher, unless it already has a live one. The caller holds the order lock."""
    if Voucher.objects.filter(stage=stage, state__in=Voucher.LIVE_STATES).exists():
        return None
    now = now or timezone.now()
    code = codes.generate()
    voucher = Voucher.objects.create(
        order=order, stage=stage, store_id=order.store_id, consumer_id=order.consumer_id,
        lookup_hash=crypto.lookup_hash(code), code_encrypted=crypto.encrypt(code), last4=code[-4:],
        issued_at=now, valid_from=now, valid_until=now + timedelta(days=stage.definition.voucher_valid_days),
    )
    events.voucher_event(events.VOUCHER_ISSUED, order=order, voucher=voucher,
                         valid_until=voucher.valid_until.isoformat())
    return voucher


def voucher_code(voucher: Voucher) -> str | None:
    """The code in display form (for the consumer who holds it), or None when it cannot be decrypted."""
    code = crypto.decrypt(voucher.code_encrypted)
    return codes.display(code) if code else None


# --- redeem --------------------------------------------------------------------------------


def _resolve_job(actor: User, job_id: int | None) -> Appointment | None:
    if job_id is None:
        if actor.role == Role.TECHNICIAN:
            raise DomainError(_("Say which job the voucher is redeemed on."), code="invalid",
                              errors={"job": ["Required for technicians."]})
        return None
    from tenancy.scoping import visible_to

    qs = Appointment.objects.filter(pk=job_id)
    qs = qs.filter(technician=actor) if actor.role == Role.TECHNICIAN else visible_to(qs, actor)
    job = qs.first()
    if job is None:
        raise NotFound(_("No such job."), code="job_not_found")
    return job


def _may_redeem(actor: User, job: Appointment | None, *, store_id: int, merchant_id: int, stage_id: int) -> bool:
    if job is not None and job.stage_id != stage_id:
        return False
    if actor.role == Role.TECHNICIAN:
        return job is not None
    if actor.role == Role.STORE_MANAGER:
        return store_id in set(actor.stores.values_list("pk", flat=True))
    if actor.role == Role.MERCHANT_ADMIN:
        return merchant_id == actor.merchant_id
    return False


def voucher_redeem(*, code: str, actor: User, job_id: int | None = None) -> Voucher:
    """Redeem a voucher on site (technician, with the job) or at the store (store staff).

    Refusals: 403 for roles that never redeem, 429 past the failed-attempt limit (checked before
    the code), 400 invalid_code, 404 voucher_not_found (identical for unknown and foreign codes),
    409 voucher_expired / voucher_revoked / voucher_already_redeemed / stage_not_ready."""
    policy.require(actor, "redeem")
    job = _resolve_job(actor, job_id)
    try:
        reservation = throttle.reserve(user_id=actor.pk, job_id=job.pk if job else None)
    except throttle.RedeemLocked as locked:
        for bucket in locked.reached:
            lockout_record(bucket=bucket, actor=actor, job=job)
        raise
    try:
        voucher = _redeem(code=code, actor=actor, job=job)
    except (InvalidVoucherCode, VoucherNotFound):
        logger.info("voucher redeem refused: user=%s job=%s", actor.pk, job.pk if job else None)
        for bucket in reservation.filled:
            lockout_record(bucket=bucket, actor=actor, job=job)
        raise
    except BaseException:
        throttle.release(reservation)
        raise
    throttle.release(reservation)
    return voucher


def _redeem(*, code: str, actor: User, job: Appointment | None) -> Voucher:
    try:
        normalized = codes.normalize(code)
    except codes.InvalidCode:
        raise InvalidVoucherCode("This is not a valid voucher code: check it for typos.") from None
    digest = crypto.lookup_hash(normalized)
    found = (Voucher.objects.filter(lookup_hash=digest)
             .values("pk", "lookup_hash", "order_id", "store_id", "stage_id", "order__merchant_id").first())
    if found is None or not crypto.hashes_match(found["lookup_hash"], digest):
        raise _not_found()
    if not _may_redeem(actor, job, store_id=found["store_id"], merchant_id=found["order__merchant_id"],
                       stage_id=found["stage_id"]):
        raise _not_found()
    with transaction.atomic():
        order = engine.lock_order(found["order_id"])
        voucher = Voucher.objects.select_for_update().get(pk=found["pk"])
        if job is not None:
            job = Appointment.objects.select_for_update().get(pk=job.pk)
        now = timezone.now()
        if voucher.state == Voucher.State.REDEEMED:
            raise Conflict(_("This voucher has already been redeemed."), code="voucher_already_redeemed")
        if voucher.state == Voucher.State.REVOKED:
            raise Conflict(_("This voucher has been revoked."), code="voucher_revoked")
        if voucher.state == Voucher.State.EXPIRED or now >= voucher.valid_until:
            raise Conflict(_("This voucher has expired."), code="voucher_expired")
        if now < voucher.valid_from:
            raise Conflict(_("This voucher is not valid yet."), code="voucher_not_yet_valid")
        stage = StageInstance.objects.select_related("definition").get(pk=voucher.stage_id)
        if order.current_stage_id != stage.pk or stage.state not in REDEEMABLE_STAGE_STATES:
            raise Conflict(_("The stage is not ready for its voucher: book the visit first."), code="stage_not_ready")
        if job is not None and not job.is_active:
            raise Conflict(_("This job is no longer active."), code="job_not_active")
        latitude, longitude = hooks.visit_location(job) if job is not None else (None, None)
        voucher.redeem(by=actor, at=now, job=job, latitude=latitude, longitude=longitude)
        voucher.save()
        events.voucher_event(events.VOUCHER_REDEEMED, order=order, voucher=voucher, actor=actor,
                             job=job.pk if job else None, redeemed_at=now.isoformat(), redeemed_by=actor.pk,
                             latitude=latitude, longitude=longitude)
    return voucher


def lockout_record(*, bucket: throttle.Bucket, actor: User, job: Appointment | None) -> VoucherLockout:
    """Record that a user or job hit the limit (once per window); an order event when a job is named."""
    with transaction.atomic():
        order = engine.lock_order(job.order_id) if job is not None else None
        lockout, created = VoucherLockout.objects.get_or_create(
            bucket=bucket.name, window_start=bucket.window_start,
            defaults={"locked_until": bucket.window_end, "user": actor, "job": job,
                      "store_id": job.store_id if job is not None else None},
        )
        if created:
            logger.warning("voucher redeem lockout: %s until %s", bucket.name, bucket.window_end.isoformat())
            if order is not None:
                events.voucher_lockout(order=order, stage_id=job.stage_id, actor=actor, bucket=bucket.name,
                                       job=job.pk, user=actor.pk, locked_until=bucket.window_end.isoformat(),
                                       limit=bucket.limit)
    return lockout


# --- lifecycle -----------------------------------------------------------------------------


def vouchers_revoke_for_order(*, order: ServiceOrder, actor=None, reason: str = "order_cancelled") -> int:
    """Revoke the order's open vouchers. The caller holds the order lock."""
    now = timezone.now()
    count = 0
    for voucher in Voucher.objects.select_for_update().filter(order=order, state=Voucher.State.ISSUED).order_by("pk"):
        voucher.revoke(at=now)
        voucher.save()
        events.voucher_event(events.VOUCHER_REVOKED, order=order, voucher=voucher, actor=actor, reason=reason)
        count += 1
    return count


def voucher_expire(*, voucher_id: int, now: datetime | None = None) -> bool:
    """Expire one voucher past its window; False when there is nothing to do (idempotent)."""
    now = now or timezone.now()
    order_id = Voucher.objects.filter(pk=voucher_id).values_list("order_id", flat=True).first()
    if order_id is None:
        return False
    with transaction.atomic():
        order = engine.lock_order(order_id)
        voucher = Voucher.objects.select_for_update().get(pk=voucher_id)
        if voucher.state != Voucher.State.ISSUED or voucher.valid_until > now:
            return False
        voucher.expire(at=now)
        voucher.save()
        events.voucher_event(events.VOUCHER_EXPIRED, order=order, voucher=voucher,
                             valid_until=voucher.valid_until.isoformat())
    return True


def vouchers_expire_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Expire every voucher past its window, in batches; running it twice changes nothing twice."""
    now = now or timezone.now()
    expired, last_pk = 0, 0
    while True:
        batch = list(Voucher.objects.filter(state=Voucher.State.ISSUED, valid_until__lte=now, pk__gt=last_pk)
                     .order_by("pk").values_list("pk", flat=True)[:batch_size])
        for pk in batch:
            expired += voucher_expire(voucher_id=pk, now=now)
        if len(batch) < batch_size:
            return expired
        last_pk = batch[-1]


def voucher_remind_expiring(*, voucher_id: int, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    order_id = Voucher.objects.filter(pk=voucher_id).values_list("order_id", flat=True).first()
    if order_id is None:
        return False
    with transaction.atomic():
        order = engine.lock_order(order_id)
        voucher = Voucher.objects.select_for_update().get(pk=voucher_id)
        if (voucher.state != Voucher.State.ISSUED or voucher.expiry_reminded_at is not None
                or voucher.valid_until <= now):
            return False
        Voucher.objects.filter(pk=voucher.pk).update(expiry_reminded_at=now)
        events.voucher_event(events.VOUCHER_EXPIRING, order=order, voucher=voucher,
                             valid_until=voucher.valid_until.isoformat(), consumer=voucher.consumer_id)
    return True


def vouchers_remind_expiring(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """One "voucher.expiring" event per voucher, `VOUCHER_REMIND_DAYS_BEFORE` (3) days before it expires."""
    now = now or timezone.now()
    horizon = now + timedelta(days=getattr(settings, "VOUCHER_REMIND_DAYS_BEFORE", 3))
    reminded, last_pk = 0, 0
    while True:
        batch = list(Voucher.objects.filter(state=Voucher.State.ISSUED, expiry_reminded_at__isnull=True,
                                            valid_until__gt=now, valid_until__lte=horizon, pk__gt=last_pk)
                     .order_by("pk").values_list("pk", flat=True)[:batch_size])
        for pk in batch:
            reminded += voucher_remind_expiring(voucher_id=pk, now=now)
        if len(batch) < batch_size:
            return reminded
        last_pk = batch[-1]
