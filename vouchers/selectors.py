from __future__ import annotations

from django.db.models import QuerySet

from tenancy.scoping import visible_to
from vouchers.models import Voucher


def voucher_list_visible_to(*, user) -> QuerySet[Voucher]:
    return visible_to(Voucher.objects.select_related("stage__definition", "order"), user).order_by("-issued_at", "-pk")


def voucher_of_consumer(*, user, voucher_id: int) -> Voucher | None:
    """The voucher when `user` is the consumer who holds it; None for anybody else."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Voucher.objects.filter(pk=voucher_id, consumer_id=user.pk).first()
