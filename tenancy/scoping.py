"""The one place that decides which rows a user may see.

Every model that belongs to a tenant declares a `tenant_scope = TenantScope(...)` naming the
lookup paths from that model to its merchant, its store, its consumer and its technician.
`visible_to(queryset, user)` turns those paths into a filter for the user's role. The admin
(`tenancy.admin.TenantScopedAdmin`), the API (`ScopedQuerysetMixin` below) and the selectors
all call it, so no view re-implements visibility. Rows outside the scope are simply absent,
which is what makes a foreign object answer 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Model, Q, QuerySet

if TYPE_CHECKING:
    from tenancy.models import User


@dataclass(frozen=True)
class TenantScope:
    merchant: str | None = None  # path to the Merchant pk
    store: str | None = None  # path to the Store pk
    consumer: str | None = None  # path to the consumer User pk
    technician: str | None = None  # path to the technician User pk
    # More (lookup, value) pairs a technician's row must match on the same relation, e.g. only visits that were
    # not cancelled (they are one filter() with `technician`, so both hold for the same related row).
    technician_where: tuple = ()
    # "store": managers see rows of their stores; "merchant": rows of their whole merchant
    # (templates and the merchant itself, which they use but do not own).
    store_manager_sees: str = "store"


def _path_is_multi(model: type[Model], path: str) -> bool:
    """True when the lookup crosses a to-many relation, so a join could repeat rows."""
    for part in path.split("__"):
        if part == "pk":
            return False
        field = model._meta.get_field(part)
        if field.many_to_many or field.one_to_many:
            return True
        if not field.is_relation:
            return False
        model = field.related_model
    return False


def scope_q(model: type[Model], user: User) -> Q | None:
    """The filter for `user` on `model`, or None when the user sees nothing of it."""
    from tenancy.models import User

    scope: TenantScope | None = getattr(model, "tenant_scope", None)
    if scope is None or not user.is_authenticated:
        return None
    role = user.role
    if role == User.Role.MERCHANT_ADMIN and scope.merchant:
        return Q(**{scope.merchant: user.merchant_id})
    if role == User.Role.STORE_MANAGER:
        if scope.store_manager_sees == "merchant" and scope.merchant:
            return Q(**{scope.merchant: user.merchant_id})
        if scope.store:
            return Q(**{f"{scope.store}__in": _store_ids(user)})
    if role == User.Role.TECHNICIAN and scope.technician:
        return Q(**{scope.technician: user.pk, **dict(scope.technician_where)})
    if role == User.Role.CONSUMER and scope.consumer:
        return Q(**{scope.consumer: user.pk})
    return None


def _store_ids(user: User) -> list[int]:
    cached = getattr(user, "_scoping_store_ids", None)
    if cached is None:
        cached = list(user.stores.values_list("pk", flat=True))
        user._scoping_store_ids = cached
    return cached


def visible_to(queryset: QuerySet, user: User) -> QuerySet:
    """Restrict `queryset` to the rows `user` may see. Operators see everything."""
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    if user.is_operator:
        return queryset
    model = queryset.model
    q = scope_q(model, user)
    if q is None:
        return queryset.none()
    if any(_path_is_multi(model, path.removesuffix("__in")) for path, _ in q.children):
        return queryset.filter(pk__in=model._base_manager.filter(q).values("pk"))
    return queryset.filter(q)


def user_can_see(user: User, obj: Model) -> bool:
    return visible_to(type(obj)._base_manager.filter(pk=obj.pk), user).exists()


class ScopedQuerysetMixin:
    """ViewSet mixin: the queryset is what `visible_to` lets the caller see (others are 404)."""

    def get_queryset(self):
        return visible_to(super().get_queryset(), self.request.user)
