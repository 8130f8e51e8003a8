"""Orders and their stages: create (a consumer by contact details), stage steps through the engine, off-site work
delivered by store staff (files checked by their bytes), cancel."""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, InvalidTransition, NotFound
from core.files import IMAGE_FORMATS, OPAQUE, PDF, detect_document, detect_image, upload_read
from core.money import allocate_with_fixed, minor_units_error, quantize
from tenancy.models import Store, User
from tenancy.scoping import visible_to
from workflows import engine, hooks
from workflows.models import (
    Appointment,
    ServiceOrder,
    StageInstance,
    StageSubmissionFile,
    TemplateDistribution,
    WorkflowTemplate,
)
from workflows.services.consumers import consumer_find_or_create

Role = User.Role


@dataclass
class OrderCreated:
    """An order creation's outcome: `created` False when the brand's `external_ref` named an order it had."""

    order: ServiceOrder
    created: bool = True


def _order_by_external_ref(*, merchant_id: int, external_ref: str, actor) -> ServiceOrder | None:
    """The brand's order with that number, when the caller may see it; 409 when it exists in a store the caller
    does not work for (answering it would show another store's order; a second one would break the rule)."""
    if not external_ref:
        return None
    existing = ServiceOrder.objects.filter(merchant_id=merchant_id, external_ref=external_ref).first()
    if existing is None:
        return None
    if actor is not None and not visible_to(ServiceOrder.objects.filter(pk=existing.pk), actor).exists():
        raise Conflict("The brand already has an order with this external_ref, in a store you do not work for.",
                       code="external_ref_taken")
    return existing


@transaction.atomic
def order_create_for_contact(*, contact: dict, store: Store, external_ref: str = "", actor=None,
                             **order_fields) -> OrderCreated:
    """Find or create the consumer by their contact details (consumer_find_or_create) and create their
    order, in one transaction: an order refused (say, a template not distributed to the store, or contact
    details of two different people) leaves no new account behind. Field errors come under `consumer`.
    An `external_ref` the brand already used answers its order (created False), whatever else was sent."""
    if existing := _order_by_external_ref(merchant_id=store.merchant_id, external_ref=external_ref, actor=actor):
        return OrderCreated(existing, created=False)
    try:
        consumer = consumer_find_or_create(**contact)
    except DomainError as exc:
        if "errors" in exc.extra:
            exc.extra["errors"] = {"consumer": exc.extra["errors"]}
        raise
    return _order_create(consumer=consumer, store=store, external_ref=external_ref, actor=actor, **order_fields)


def order_create(**fields) -> ServiceOrder:
    """A new order at its first stage (see _order_create)."""
    return _order_create(**fields).order


@transaction.atomic
def _order_create(
    *,
    template: WorkflowTemplate,
    store: Store,
    consumer: User,
    total_amount: Decimal,
    currency: str,
    service_address: str,
    latitude: Decimal,
    longitude: Decimal,
    external_ref: str = "",
    actor=None,
) -> OrderCreated:
    """A new order at its first stage. With an `external_ref` the brand already used (a concurrent import of the
    same order got there first), the brand's existing order is returned instead of a second one."""
    dist = TemplateDistribution.objects.select_related("version").filter(template=template, store=store).first()
    if dist is None:
        raise DomainError(_("This workflow is not distributed to that store."), code="not_distributed")
    if error := minor_units_error(total_amount, currency):
        raise DomainError(error, code="invalid", errors={"total_amount": [error]})
    definitions = list(dist.version.stages.order_by("position"))
    # The installments are made from these by payments (allocate_with_fixed): a total below the fixed payments,
    # or in another currency than theirs, is refused here, before any row is written.
    allocate_with_fixed(total_amount, [d.payment_part for d in definitions if d.carries_payment], currency)

    try:
        with transaction.atomic():  # a savepoint: the unique (brand, external_ref) may refuse the row
            order = ServiceOrder.objects.create(
                merchant_id=store.merchant_id,
                store=store,
                consumer=consumer,
                template_version=dist.version,
                total_amount=quantize(total_amount, currency),
                currency=currency,
                service_address=service_address,
                latitude=latitude,
                longitude=longitude,
                external_ref=external_ref,
                state="",
                created_by=actor if getattr(actor, "pk", None) else None,
            )
    except IntegrityError:
        existing = _order_by_external_ref(merchant_id=store.merchant_id, external_ref=external_ref, actor=actor)
        if existing is None:
            raise
        return OrderCreated(existing, created=False)
    StageInstance.objects.bulk_create(
        [
            StageInstance(order=order, definition=d, position=d.position)
            for d in definitions
        ]
    )
    engine.order_initialize(order)
    return OrderCreated(order)


def stage_fire(*, stage: StageInstance, trigger: str, actor, payload: dict | None = None) -> engine.FireResult:
    return engine.fire(order_id=stage.order_id, trigger=trigger, actor=actor, stage_id=stage.pk, payload=payload)


def signature_check(file) -> bytes:
    """The bytes of a drawn signature: a real PNG of at most SIGNATURE_MAX_BYTES and SIGNATURE_MAX_PX a side
    (400 `invalid_signature` otherwise; the client's name and Content-Type are not trusted)."""
    bad = DomainError(_("The signature could not be read: draw it again."), code="invalid_signature",
                      errors={"signature": ["Not a PNG image of the allowed size."]})
    try:
        data = upload_read(file, max_bytes=settings.SIGNATURE_MAX_BYTES, field="signature")
    except DomainError:
        raise bad from None
    if detect_image(data) != IMAGE_FORMATS["PNG"]:
        raise bad
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # the IHDR chunk
    if not (0 < width <= settings.SIGNATURE_MAX_PX and 0 < height <= settings.SIGNATURE_MAX_PX):
        raise bad
    return data


@transaction.atomic
def stage_approve(*, stage: StageInstance, actor, signature=None) -> engine.FireResult:
    """The consumer accepts the work. A stage whose definition asks for it needs the consumer's drawn
    signature (a PNG file): checked before anything changes, its SHA-256 in the approval event, the file kept
    by the app registered for it (hooks.signature_store)."""
    if not stage.definition.approval_requires_signature:
        return stage_fire(stage=stage, trigger="approve", actor=actor)
    if signature is None:
        raise DomainError(_("Sign to approve this step."), code="signature_required",
                          errors={"signature": ["Required."]})
    data = signature_check(signature)
    sha256 = hashlib.sha256(data).hexdigest()
    result = stage_fire(stage=stage, trigger="approve", actor=actor, payload={"signature_sha256": sha256})
    hooks.signature_store(stage, actor, data, sha256)
    return result


def stage_reject(*, stage: StageInstance, actor, reason: str) -> engine.FireResult:
    if not reason.strip():
        raise DomainError(_("Say why the work is rejected."), code="invalid", errors={"reason": ["Required."]})
    return stage_fire(stage=stage, trigger="reject", actor=actor, payload={"reason": reason})


def stage_resume(*, stage: StageInstance, actor, note: str = "") -> engine.FireResult:
    return stage_fire(stage=stage, trigger="resume", actor=actor, payload={"note": note})


def stage_start(*, stage: StageInstance, actor) -> engine.FireResult:
    return stage_fire(stage=stage, trigger="start", actor=actor)



# What store staff may attach to a stage, by its bytes: a document or an image.
SUBMISSION_CONTENT_TYPES = (*IMAGE_FORMATS.values(), PDF)
# The types a stored submission file may have: those, and opaque bytes for a file stored before the check.
SUBMISSION_STORED_TYPES = (*SUBMISSION_CONTENT_TYPES, OPAQUE)


def submission_file_check(*, file) -> tuple[str, int]:
    """(content type, size) of one file staff attach to a stage: a PDF or a real JPEG/PNG/WebP image by its
    bytes, at most SUBMISSION_MAX_BYTES (400 with a field error naming the file otherwise; the name and
    Content-Type the client sent are not trusted). The file is read once, then rewound for the storage."""
    data = upload_read(file, max_bytes=settings.SUBMISSION_MAX_BYTES)
    content_type = detect_document(data)
    if content_type not in SUBMISSION_CONTENT_TYPES:
        raise DomainError(_("Attach PDF documents or JPEG, PNG or WebP images."), code="invalid", errors={
            "file": [f"{_upload_name(file) or 'A file'}: not a PDF document or a JPEG, PNG or WebP image."],
        })
    file.seek(0)
    return content_type, len(data)


def _upload_name(file) -> str:
    """The name the client gave the file (data only, never part of a storage path)."""
    return posixpath.basename(getattr(file, "name", None) or "")[:200]


@transaction.atomic
def stage_submit(*, stage: StageInstance, actor, notes: str = "", files=()) -> engine.FireResult:
    """Store staff deliver off-site work (a design draft): the stage then waits for approval. Each file is
    checked (submission_file_check) before anything changes, and stored under a name the server chooses in
    the merchant's folder."""
    if stage.definition.requires_appointment:
        raise InvalidTransition(
            "On-site stages are completed by the technician on the job.",
            allowed=engine.allowed_triggers(stage.order, actor=actor),
        )
    checked = [(f, *submission_file_check(file=f)) for f in files]
    result = stage_fire(
        stage=stage,
        trigger="complete",
        actor=actor,
        payload={"notes": notes, "files": [_upload_name(f) for f in files]},
    )
    StageInstance.objects.filter(pk=stage.pk).update(submission_notes=notes)
    saved: list[StageSubmissionFile] = []
    try:
        for f, content_type, size in checked:
            row = StageSubmissionFile(stage=stage, original_name=_upload_name(f), content_type=content_type,
                                      size=size, uploaded_by=actor)
            row.file.save("upload", f, save=False)
            saved.append(row)
            row.save()
    except BaseException:
        for row in saved:  # the rows are rolled back: do not keep their files
            row.file.storage.delete(row.file.name)
        raise
    return result


def stage_complete(*, stage: StageInstance, actor, payload: dict | None = None) -> engine.FireResult:
    return stage_fire(stage=stage, trigger="complete", actor=actor, payload=payload)


@transaction.atomic
def order_cancel(*, order: ServiceOrder, actor, reason: str) -> ServiceOrder:
    """Cancel the order. Effects registered by payments and vouchers refund and revoke."""
    locked = engine.lock_order(order.pk)
    if actor is not None and actor.role == Role.CONSUMER and locked.consumer_id != actor.pk:
        raise NotFound(_("No such order."))
    engine.fire_locked(locked, trigger="cancel", actor=actor, payload={"reason": reason})
    locked.cancel_reason = reason
    locked.save(update_fields=["cancel_reason"])
    for appt in Appointment.objects.filter(order=locked, state__in=Appointment.ACTIVE_STATES):
        appt.mark_cancelled()
        appt.save()
    return locked

