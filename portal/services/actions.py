"""What the consumer does from the page, as the order's consumer: the same services, rules and events as the
consumer's API calls (workflows.services; the engine asks tenancy.policy on every trigger). The page's view
checks the device's session first; these only make sure the stage or visit is this order's (else NotFound)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.errors import DomainError, NotFound
from payments import services as payment_services
from payments.models import PriceRevision
from workflows import services
from workflows.models import Appointment, ServiceOrder, StageInstance


def _stage(order: ServiceOrder, stage_id: int) -> StageInstance:
    stage = StageInstance.objects.select_related("definition").filter(pk=stage_id, order_id=order.pk).first()
    if stage is None:
        raise NotFound(_("No such step."))
    return stage


def _window(value: str) -> datetime:
    start = parse_datetime(value or "") if isinstance(value, str) else None
    if start is None or start.tzinfo is None:
        raise DomainError(_("Choose one of the offered times."), code="invalid",
                          errors={"window_start": ["Required."]})
    return start


PNG_DATA_URL = "data:image/png;base64,"


def signature_file(data_url: str) -> ContentFile | None:
    """The PNG the page's signature box put in its hidden field (a data URL), as a file; None when empty (the
    service then says a signature is needed). Anything else than a base64 PNG data URL: 400."""
    if not data_url:
        return None
    # base64 takes 4 characters for 3 bytes: refuse far larger input before decoding it.
    if not data_url.startswith(PNG_DATA_URL) or len(data_url) > settings.SIGNATURE_MAX_BYTES * 4 // 3 + 100:
        raise DomainError(_("The signature could not be read: draw it again."), code="invalid_signature",
                          errors={"signature": ["Not a PNG data URL of the allowed size."]})
    try:
        data = base64.b64decode(data_url.removeprefix(PNG_DATA_URL), validate=True)
    except (binascii.Error, ValueError):
        raise DomainError(_("The signature could not be read: draw it again."), code="invalid_signature",
                          errors={"signature": ["Not base64."]}) from None
    return ContentFile(data, name="signature.png")


def work_approve(*, order: ServiceOrder, stage_id: int, signature: str = ""):
    stage = _stage(order, stage_id)
    return services.stage_approve(stage=stage, actor=order.consumer, signature=signature_file(signature))


def work_reject(*, order: ServiceOrder, stage_id: int, reason: str):
    return services.stage_reject(stage=_stage(order, stage_id), actor=order.consumer, reason=(reason or "")[:1000])


def visit_book(*, order: ServiceOrder, stage_id: int, window_start: str) -> Appointment:
    return services.appointment_book(stage=_stage(order, stage_id), window_start=_window(window_start),
                                     actor=order.consumer)


def visit_move(*, order: ServiceOrder, appointment_id: int, window_start: str) -> Appointment:
    appointment = Appointment.objects.filter(pk=appointment_id, order_id=order.pk).first()
    if appointment is None:
        raise NotFound(_("No such visit."))
    return services.appointment_reschedule(appointment=appointment, window_start=_window(window_start),
                                           actor=order.consumer)


def revision_answer(*, order: ServiceOrder, revision_id: int, accept: bool) -> PriceRevision:
    """Accept or decline the order's price revision, as its consumer (the same service as the API's)."""
    revision = PriceRevision.objects.filter(pk=revision_id, order_id=order.pk).first()
    if revision is None:
        raise NotFound(_("No such price revision."))
    answer = payment_services.revision_accept if accept else payment_services.revision_decline
    return answer(revision=revision, actor=order.consumer)
