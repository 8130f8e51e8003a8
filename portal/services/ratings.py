"""The consumer's rating of a completed order: 1-5 stars for the order and for each on-site visit's technician,
an optional comment. Given once, changeable for PORTAL_RATING_CHANGE_DAYS (7) after it was first given; each
giving or change is a `rating.given` event, and a low one (1-2 stars anywhere) is told to the store at once
(notifications plans a message to the store's managers from that event)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, InvalidTransition
from portal import events
from portal.conf import setting
from portal.models import Rating, VisitRating
from workflows import engine
from workflows.models import Appointment, ServiceOrder

LOW = 2


def _score(value, field: str) -> int:
    try:
        score = int(str(value).strip())
    except (TypeError, ValueError):
        score = 0
    if not 1 <= score <= 5:
        raise DomainError(_("Give 1 to 5 stars."), code="invalid", errors={field: ["1-5"]})
    return score


def rateable_visits(order: ServiceOrder) -> dict[int, int]:
    """{appointment id: technician id} of the order's finished on-site visits."""
    return dict(Appointment.objects.filter(order_id=order.pk, state=Appointment.State.CHECKED_OUT,
                                           technician__isnull=False).values_list("pk", "technician_id"))


@transaction.atomic
def rating_give(*, order: ServiceOrder, score, comment: str = "", visits: dict | None = None) -> Rating:
    """Rate the completed order as its consumer. `visits`: {appointment id: stars} for any of its finished
    visits. 409 `invalid_transition` before the order is complete, 409 `rating_final` once the change window is
    over, 400 for stars outside 1-5 or a visit that is not the order's."""
    order = engine.lock_order(order.pk)
    if order.status != ServiceOrder.Status.COMPLETED:
        raise InvalidTransition(_("The service can be rated once the order is complete."), allowed=[])
    stars = _score(score, "score")
    rateable = rateable_visits(order)
    visit_stars: dict[int, int] = {}
    for key, value in (visits or {}).items():
        try:
            appointment_id = int(key)
        except (TypeError, ValueError):
            appointment_id = 0
        if appointment_id not in rateable:
            raise DomainError(_("No such visit."), code="invalid", errors={"visits": [str(key)[:20]]})
        visit_stars[appointment_id] = _score(value, f"visit_{appointment_id}")
    comment = (comment or "").strip()[:1000]
    now = timezone.now()
    rating = Rating.objects.select_for_update().filter(order=order).first()
    changed = rating is not None
    if rating is None:
        rating = Rating.objects.create(order=order, score=stars, comment=comment, created_at=now, updated_at=now)
    else:
        if now >= rating.created_at + timedelta(days=setting("PORTAL_RATING_CHANGE_DAYS")):
            raise Conflict(_("A rating can be changed for 7 days after it was given."), code="rating_final")
        rating.score, rating.comment, rating.updated_at = stars, comment, now
        rating.save(update_fields=["score", "comment", "updated_at"])
        rating.visits.all().delete()
    VisitRating.objects.bulk_create([
        VisitRating(rating=rating, appointment_id=a, technician_id=rateable[a], score=s)
        for a, s in sorted(visit_stars.items())
    ])
    low = stars <= LOW or any(s <= LOW for s in visit_stars.values())
    events.portal_event(events.RATING_GIVEN, order=order, actor=order.consumer, rating=rating.pk, score=stars,
                        visits={str(a): s for a, s in sorted(visit_stars.items())}, comment=comment,
                        changed=changed, low=low)
    return rating
