"""Failed-redeem limits per user and per job, counted in the database.

Each attempt first *reserves* one unit in every bucket that applies (the user's minute and hour
windows, and the job's when a job is named) under row locks taken in a fixed order; a bucket at
its limit refuses the attempt with 429 before the code is even looked at. A successful attempt
(or a refusal that was not a guess, such as "already redeemed") gives its unit back; a failed
guess keeps it. So the limit holds exactly, even for parallel requests on several workers,
which DRF's read-then-write throttles do not guarantee.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import DomainError
from vouchers.models import RedeemFailureCounter

WINDOWS = (("m", 60, "VOUCHER_REDEEM_FAILURES_PER_MINUTE"), ("h", 3600, "VOUCHER_REDEEM_FAILURES_PER_HOUR"))


class RedeemLocked(DomainError):
    """Too many failed attempts: wait before trying another code."""

    code = "too_many_attempts"
    status_code = 429

    def __init__(self, *, retry_after: int, reached: list[Bucket]):
        super().__init__(f"Too many failed attempts; try again in {retry_after} seconds.",
                         retry_after=retry_after)
        self.retry_after = retry_after
        self.reached = reached


@dataclass(frozen=True)
class Bucket:
    name: str
    window_start: datetime
    window_end: datetime
    limit: int


@dataclass
class Reservation:
    counter_ids: list[int] = field(default_factory=list)
    # Buckets this attempt filled up: if it fails, they are locked out until their window ends.
    filled: list[Bucket] = field(default_factory=list)


def _window(now: datetime, seconds: int) -> tuple[datetime, datetime]:
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo or timezone.utc)
    return start, start + timedelta(seconds=seconds)


def buckets_for(*, user_id: int, job_id: int | None, now: datetime) -> list[Bucket]:
    subjects = [f"user:{user_id}"] + ([f"job:{job_id}"] if job_id else [])
    result = []
    for subject in subjects:
        for suffix, seconds, setting in WINDOWS:
            start, end = _window(now, seconds)
            result.append(Bucket(f"{subject}:{suffix}", start, end, int(getattr(settings, setting))))
    return sorted(result, key=lambda b: b.name)


def _now() -> datetime:
    return timezone.now()


def reserve(*, user_id: int, job_id: int | None, now: datetime | None = None) -> Reservation:
    """Take one attempt from every bucket, or raise RedeemLocked (nothing taken)."""
    now = now or _now()
    buckets = buckets_for(user_id=user_id, job_id=job_id, now=now)
    with transaction.atomic():
        rows = []
        for b in buckets:  # sorted: every request locks the rows in the same order
            row, _ = RedeemFailureCounter.objects.select_for_update().get_or_create(
                bucket=b.name, window_start=b.window_start
            )
            rows.append((b, row))
        full = [b for b, row in rows if row.count >= b.limit]
        if not full:
            RedeemFailureCounter.objects.filter(pk__in=[row.pk for _, row in rows]).update(count=F("count") + 1)
            return Reservation(counter_ids=[row.pk for _, row in rows],
                               filled=[b for b, row in rows if row.count + 1 >= b.limit])
    retry_after = max(math.ceil((b.window_end - now).total_seconds()) for b in full)
    raise RedeemLocked(retry_after=max(retry_after, 1), reached=full)


def release(reservation: Reservation) -> None:
    """Give the attempt back: it was not a failed guess."""
    # One row at a time, in the order reserve() locked them (counter_ids follow the sorted
    # buckets): a single UPDATE ... WHERE id IN (...) locks in scan order and deadlocks with a
    # parallel reserve() holding the first bucket and waiting for the second.
    with transaction.atomic():
        for pk in reservation.counter_ids:
            RedeemFailureCounter.objects.filter(pk=pk, count__gt=0).update(count=F("count") - 1)


def purge_old_counters(*, older_than: timedelta = timedelta(days=2)) -> int:
    deleted, _ = RedeemFailureCounter.objects.filter(window_start__lt=timezone.now() - older_than).delete()
    return deleted
