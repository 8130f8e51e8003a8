"""Write operations of the workflows app. Every entry point (API, admin, tasks, demo) calls these."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, DomainError, InvalidTransition, NotFound, PermissionDeniedError
from core.files import IMAGE_FORMATS, OPAQUE, PDF, detect_document, upload_read
from tenancy.models import Merchant, Store, User
from tenancy.phones import InvalidPhone, normalize_phone
from workflows import engine, hooks
from workflows.events import record_event
from workflows.models import (
    Appointment,
    ServiceOrder,
    StageDefinition,
    StageInstance,
    StageSubmissionFile,
    TemplateDistribution,
    TemplateVersion,
    WorkflowTemplate,
)

Role = User.Role
STAGE_FIELDS = (
    "code",
    "name",
    "description",
    "requires_appointment",
    "appointment_minutes",
    "requires_approval",
    "max_rework_rounds",
    "min_photos",
    "checklist",
    "requires_voucher",
    "voucher_valid_days",
    "payment_share",
    "payment_timing",
    "sla_hours",
    "arrival_tolerance_minutes",
    "refundable_on_cancel",
)
MAX_SLA_HOURS = 24 * 365
MAX_VOUCHER_VALID_DAYS = 3650  # as StageDefinition.voucher_valid_days' validator


class TemplateInvalid(DomainError):
    """The template cannot be published as it is."""

    code = "template_invalid"
    status_code = 400


# --- templates -------------------------------------------------------------


def _write_stages(version: TemplateVersion, stages: list[dict]) -> None:
    codes = [data.get("code") for data in stages]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        problems = [
            {"stage": c, "field": "code", "message": f"Stage code '{c}' is used more than once."} for c in duplicates
        ]
        raise TemplateInvalid(" ".join(p["message"] for p in problems), problems=problems)
    version.stages.all().delete()
    StageDefinition.objects.bulk_create(
        [
            StageDefinition(version=version, position=i, **{k: v for k, v in data.items() if k in STAGE_FIELDS})
            for i, data in enumerate(stages, start=1)
        ]
    )


@transaction.atomic
def template_create(
    *, merchant: Merchant, name: str, description: str = "", stages: list[dict], actor=None
) -> WorkflowTemplate:
    from tenancy.tiers import tier_check_template

    template = WorkflowTemplate.objects.create(merchant=merchant, name=name, description=description)
    version = TemplateVersion.objects.create(template=template)
    tier_check_template(merchant, stages)
    _write_stages(version, stages)
    return template


def template_draft(template: WorkflowTemplate) -> TemplateVersion:
    """The template's draft, made from its latest published version when it has none.
    The caller holds the template's row lock."""
    draft = template.versions.filter(status=TemplateVersion.Status.DRAFT).first()
    if draft is not None:
        return draft
    latest = template.versions.filter(status=TemplateVersion.Status.PUBLISHED).order_by("-number").first()
    draft = TemplateVersion.objects.create(template=template)
    if latest is not None:
        _write_stages(draft, [{f: getattr(d, f) for f in STAGE_FIELDS} for d in latest.stages.order_by("position")])
    return draft


@transaction.atomic
def template_update(*, template: WorkflowTemplate, data: dict, actor=None) -> WorkflowTemplate:
    """Edit the template; stage changes go to its draft (published versions never change)."""
    from tenancy.tiers import tier_check_template

    template = WorkflowTemplate.objects.select_for_update().get(pk=template.pk)
    for field in ("name", "description"):
        if field in data:
            setattr(template, field, data[field])
    template.save()
    if "stages" in data:
        tier_check_template(template.merchant, data["stages"])
        _write_stages(template_draft(template), data["stages"])
    return template


def template_problems(stages: list[StageDefinition]) -> list[dict]:
    """Everything that keeps a set of stage definitions from being published, one message each."""
    problems: list[dict] = []

    def add(stage, field, message):
        problems.append({"stage": getattr(stage, "code", None), "field": field, "message": message})

    if not stages:
        add(None, "stages", "A workflow needs at least one stage.")
        return problems
    seen: set[str] = set()
    for st in stages:
        if st.code in seen:
            add(st, "code", f"Stage code '{st.code}' is used more than once.")
        seen.add(st.code)
        if st.sla_hours is not None and not (1 <= st.sla_hours <= MAX_SLA_HOURS):
            add(st, "sla_hours", f"SLA of stage '{st.code}' must be between 1 and {MAX_SLA_HOURS} hours.")
        if st.requires_appointment and not (15 <= st.appointment_minutes <= 12 * 60):
            add(st, "appointment_minutes", f"Appointment of stage '{st.code}' must last 15 minutes to 12 hours.")
        if st.arrival_tolerance_minutes > 24 * 60:
            add(st, "arrival_tolerance_minutes", f"Arrival tolerance of stage '{st.code}' is over a day.")
        if not (1 <= st.voucher_valid_days <= MAX_VOUCHER_VALID_DAYS):
            add(st, "voucher_valid_days",
                f"Vouchers of stage '{st.code}' must be valid 1 to {MAX_VOUCHER_VALID_DAYS} days.")
        if st.requires_voucher and not st.requires_appointment:
            add(st, "requires_voucher", f"Stage '{st.code}' asks for a voucher but has no on-site appointment.")
        if st.payment_share is not None and st.payment_share <= 0:
            add(st, "payment_share", f"Payment share of stage '{st.code}' must be positive, or empty.")
        if not isinstance(st.checklist, list) or not all(isinstance(i, str) and i.strip() for i in st.checklist):
            add(st, "checklist", f"Checklist of stage '{st.code}' must be a list of non-empty texts.")
        elif len({i.strip() for i in st.checklist}) != len(st.checklist):
            # The technician ticks items by their text: two alike could never be told apart.
            add(st, "checklist", f"Checklist of stage '{st.code}' lists an item more than once.")
    shares = [st.payment_share for st in stages if st.payment_share is not None]
    if shares and sum(shares, Decimal(0)) != Decimal(100):
        add(None, "payment_share", f"Payment shares add up to {sum(shares, Decimal(0))}%, not 100%.")
    return problems


@transaction.atomic
def template_publish(*, template: WorkflowTemplate, actor=None) -> TemplateVersion:
    """Validate the draft and freeze it as the next version number."""
    from tenancy.tiers import tier_check_template

    template = WorkflowTemplate.objects.select_for_update().get(pk=template.pk)
    draft = template.versions.filter(status=TemplateVersion.Status.DRAFT).first()
    if draft is None:
        raise Conflict("There is no draft to publish: edit the template first.", code="nothing_to_publish")
    stages = list(draft.stages.order_by("position"))
    problems = template_problems(stages)
    if problems:
        raise TemplateInvalid(
            "The template has problems: " + " ".join(p["message"] for p in problems), problems=problems
        )
    tier_check_template(template.merchant, [{f: getattr(s, f) for f in STAGE_FIELDS} for s in stages])
    last = template.versions.filter(status=TemplateVersion.Status.PUBLISHED).order_by("-number").first()
    draft.number = (last.number if last else 0) + 1
    draft.status = TemplateVersion.Status.PUBLISHED
    draft.published_at = timezone.now()
    draft.published_by = actor if getattr(actor, "pk", None) else None
    draft.save()
    return draft


def template_latest_published(template: WorkflowTemplate) -> TemplateVersion | None:
    return template.versions.filter(status=TemplateVersion.Status.PUBLISHED).order_by("-number").first()


@transaction.atomic
def template_distribute(
    *, template: WorkflowTemplate, stores: list[Store], actor=None, version: TemplateVersion | None = None
) -> list[TemplateDistribution]:
    """Make the latest published version (or `version`) available to these stores of the merchant."""
    version = version or template_latest_published(template)
    if version is None or not version.is_published:
        raise Conflict("Publish the template before distributing it.", code="not_published")
    foreign = [s.pk for s in stores if s.merchant_id != template.merchant_id]
    if foreign:
        raise NotFound("No such store.")
    result = []
    for store in stores:
        dist, _ = TemplateDistribution.objects.update_or_create(
            template=template,
            store=store,
            defaults={"version": version, "distributed_by": actor if getattr(actor, "pk", None) else None},
        )
        result.append(dist)
    return result


def distribution_override_problems(*, distribution: TemplateDistribution, appointment_minutes) -> list[str]:
    """Why these store appointment lengths cannot be saved (empty when they can)."""
    if not isinstance(appointment_minutes, dict):
        return ["Give the lengths as {stage code: minutes}."]
    codes = set(distribution.version.stages.filter(requires_appointment=True).values_list("code", flat=True))
    problems = []
    for code, minutes in appointment_minutes.items():
        if code not in codes:
            problems.append(f"No on-site stage '{code}' in this workflow.")
        elif isinstance(minutes, bool) or not isinstance(minutes, int) or not 15 <= minutes <= 12 * 60:
            problems.append(f"Appointment length for '{code}' must be 15 to 720 minutes.")
    return problems


def distribution_set_overrides(
    *, distribution: TemplateDistribution, appointment_minutes: dict[str, int]
) -> TemplateDistribution:
    """A store's own appointment lengths. Only lengths: payment shares are the brand's."""
    from tenancy.tiers import tier_require

    tier_require(distribution.store.merchant, "store_overrides")
    problems = distribution_override_problems(distribution=distribution, appointment_minutes=appointment_minutes)
    if problems:
        raise DomainError(" ".join(problems), code="invalid", errors={"appointment_minutes_overrides": problems})
    distribution.appointment_minutes_overrides = dict(appointment_minutes)
    distribution.save(update_fields=["appointment_minutes_overrides"])
    return distribution


# --- orders ----------------------------------------------------------------


def consumer_find_or_create(*, phone: str = "", email: str = "", name: str = "") -> User:
    """The consumer these contact details identify, or a new consumer account.

    The phone is normalised to E.164 first (tenancy/phones.py, region DEFAULT_PHONE_REGION), so any
    spelling of a number (`13800000001`, ` +86 138-0000-0001 `) finds the account stored as
    `+8613800000001`; an invalid number is a 400 on `phone`. Emails match case-insensitively.

    With both a phone and an email:
    - both belong to the same account: that account; neither belongs to any: a new one with both;
    - they belong to two different accounts: 400 on `email`, nothing is created;
    - one belongs to an account and the other is not that account's own (it has another one, or none):
      400 on the field that does not match. The order form never changes an existing account's contact
      details (that would send its owner's messages to whoever typed them) and never guesses which of
      two people is meant: send the matching contact alone to use the account.
    An email shared by several accounts, given alone, is ambiguous: 400 on `email` (give the phone).
    Field errors are keyed `phone` / `email`; order_create_for_contact nests them under `consumer`.
    """
    if phone:
        try:
            phone = normalize_phone(phone)
        except InvalidPhone as exc:
            raise DomainError(exc.message, code="invalid", errors={"phone": [exc.message]}) from None
    email = (email or "").strip()
    if not phone and not email:
        raise DomainError("A consumer needs a phone or an email.", code="invalid")
    user = _consumer_matching(phone=phone, email=email)
    if user is not None:
        return user
    username = f"c_{phone.lstrip('+')}" if phone else f"c_{email.lower()}"[:150]
    first, _, last = (name or "").partition(" ")
    try:
        with transaction.atomic():
            user = User(
                username=username,
                phone=phone or None,
                email=email,
                first_name=first[:150],
                last_name=last[:150],
                role=Role.CONSUMER,
            )
            user.set_unusable_password()
            user.save()
    except IntegrityError:
        # Another request created it meanwhile (or the username is taken): decide again on what is stored now.
        user = _consumer_matching(phone=phone, email=email)
        if user is None:
            raise Conflict("Could not create the consumer account; try again.") from None
    return user


def _consumer_matching(*, phone: str, email: str) -> User | None:
    """The existing consumer account these (normalised) contact details identify, None when neither is
    known; DomainError (400, field errors) when they point at different accounts or at a staff account."""

    def refuse(field: str, message: str):
        return DomainError(message, code="invalid", errors={field: [message]})

    by_phone = User.objects.filter(phone=phone).first() if phone else None
    by_email = list(User.objects.filter(email__iexact=email).order_by("pk")[:2]) if email else []
    if phone and email:
        if by_phone is not None and by_phone.email.strip().lower() != email.lower():
            if by_email:
                raise refuse("email", "This email belongs to a different account than this phone number.")
            raise refuse(
                "email",
                "The account with this phone number has a different email (or none); "
                "send the phone alone to use that account, or check the email.",
            )
        if by_phone is None and by_email:
            raise refuse(
                "phone",
                "The account with this email has a different phone number (or none); "
                "send the email alone to use that account, or check the phone number.",
            )
        user, field = by_phone, "phone"
    elif phone:
        user, field = by_phone, "phone"
    else:
        if len(by_email) > 1:
            raise refuse("email", "More than one account has this email; give the consumer's phone number.")
        user, field = (by_email[0] if by_email else None), "email"
    if user is not None and user.role != Role.CONSUMER:
        raise refuse(field, "That phone or email belongs to a staff account.")
    return user


@transaction.atomic
def order_create_for_contact(*, contact: dict, **order_fields) -> ServiceOrder:
    """Find or create the consumer by their contact details (consumer_find_or_create) and create their
    order, in one transaction: an order refused (say, a template not distributed to the store, or contact
    details of two different people) leaves no new account behind. Field errors come under `consumer`."""
    try:
        consumer = consumer_find_or_create(**contact)
    except DomainError as exc:
        if "errors" in exc.extra:
            exc.extra["errors"] = {"consumer": exc.extra["errors"]}
        raise
    return order_create(consumer=consumer, **order_fields)


@transaction.atomic
def order_create(
    *,
    template: WorkflowTemplate,
    store: Store,
    consumer: User,
    total_amount: Decimal,
    currency: str,
    service_address: str,
    latitude: Decimal,
    longitude: Decimal,
    actor=None,
) -> ServiceOrder:
    dist = TemplateDistribution.objects.select_related("version").filter(template=template, store=store).first()
    if dist is None:
        raise DomainError("This workflow is not distributed to that store.", code="not_distributed")
    from core.money import minor_units_error, quantize

    if error := minor_units_error(total_amount, currency):
        raise DomainError(error, code="invalid", errors={"total_amount": [error]})

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
        state="",
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    StageInstance.objects.bulk_create(
        [
            StageInstance(order=order, definition=d, position=d.position)
            for d in dist.version.stages.order_by("position")
        ]
    )
    engine.order_initialize(order)
    return order


def _visible_stage(stage_id: int, actor) -> StageInstance:
    from tenancy.scoping import visible_to

    stage = visible_to(StageInstance.objects.select_related("order", "definition"), actor).filter(pk=stage_id).first()
    if stage is None:
        raise NotFound("No such stage.")
    return stage


def stage_fire(*, stage: StageInstance, trigger: str, actor, payload: dict | None = None) -> engine.FireResult:
    return engine.fire(order_id=stage.order_id, trigger=trigger, actor=actor, stage_id=stage.pk, payload=payload)


def stage_approve(*, stage: StageInstance, actor) -> engine.FireResult:
    return stage_fire(stage=stage, trigger="approve", actor=actor)


def stage_reject(*, stage: StageInstance, actor, reason: str) -> engine.FireResult:
    if not reason.strip():
        raise DomainError("Say why the work is rejected.", code="invalid", errors={"reason": ["Required."]})
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
        raise DomainError("Attach PDF documents or JPEG, PNG or WebP images.", code="invalid", errors={
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
        raise NotFound("No such order.")
    engine.fire_locked(locked, trigger="cancel", actor=actor, payload={"reason": reason})
    locked.cancel_reason = reason
    locked.save(update_fields=["cancel_reason"])
    for appt in Appointment.objects.filter(order=locked, state__in=Appointment.ACTIVE_STATES):
        appt.mark_cancelled()
        appt.save()
    return locked


# --- appointments ----------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    free_technicians: int


def appointment_minutes_for(stage: StageInstance) -> int:
    dist = TemplateDistribution.objects.filter(
        template_id=stage.order.template_version.template_id, store_id=stage.order.store_id
    ).first()
    overrides = dist.appointment_minutes_overrides if dist else {}
    return int(overrides.get(stage.definition.code, stage.definition.appointment_minutes))


def _store_technician_ids(store: Store) -> list[int]:
    return list(
        User.objects.filter(role=Role.TECHNICIAN, is_active=True, stores=store)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def technicians_busy(technician_ids: list[int], start: datetime, end: datetime,
                     exclude_pk: int | None = None) -> set[int]:
    """Those of `technician_ids` with an active visit (other than `exclude_pk`) overlapping [start, end)."""
    qs = Appointment.objects.filter(
        technician_id__in=technician_ids,
        state__in=Appointment.ACTIVE_STATES,
        window_start__lt=end,
        window_end__gt=start,
    )
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return set(qs.values_list("technician_id", flat=True))


def booking_horizon_end(store: Store, now: datetime | None = None) -> datetime:
    """The end of the booking horizon: the store's closing time APPOINTMENT_BOOKING_HORIZON_DAYS days after
    today (in the store's time zone). The slots listing stops there, and booking refuses a later window."""
    tz = store.tzinfo
    today = (now or timezone.now()).astimezone(tz).date()
    return datetime.combine(today + timedelta(days=settings.APPOINTMENT_BOOKING_HORIZON_DAYS), store.closes_at,
                            tzinfo=tz)


def appointment_slots(*, stage: StageInstance, now: datetime | None = None) -> list[Slot]:
    """Bookable windows: the store's working hours cut into the stage's appointment length, with
    at least one of the store's technicians free, up to the booking horizon (booking_horizon_end) and
    ending by the stage's booking deadline (hooks.booking_deadline: its e-voucher's expiry)."""
    if not stage.definition.requires_appointment:
        return []
    store = stage.order.store
    tz = store.tzinfo
    length = timedelta(minutes=appointment_minutes_for(stage))
    now = now or timezone.now()
    tech_ids = _store_technician_ids(store)
    if not tech_ids:
        return []
    first_day = now.astimezone(tz).date()
    horizon_end = booking_horizon_end(store, now)
    deadline = hooks.booking_deadline(stage)
    latest_end = min(horizon_end, deadline.until) if deadline else horizon_end
    if latest_end <= now:
        return []
    busy = list(
        Appointment.objects.filter(
            technician_id__in=tech_ids,
            state__in=Appointment.ACTIVE_STATES,
            window_end__gt=now,
            window_start__lt=horizon_end,
        ).values_list("technician_id", "window_start", "window_end")
    )
    slots = []
    for offset in range((horizon_end.date() - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in store.working_days:
            continue
        start = datetime.combine(day, store.opens_at, tzinfo=tz)
        close = min(datetime.combine(day, store.closes_at, tzinfo=tz), latest_end)
        while start + length <= close:
            end = start + length
            if start > now:
                taken = {t for t, s, e in busy if s < end and e > start}
                free = len(tech_ids) - len(taken)
                if free > 0:
                    slots.append(Slot(start=start, end=end, free_technicians=free))
            start = end
    return slots


def _validate_window(stage: StageInstance, window_start: datetime) -> datetime:
    """The window's end, when `window_start` is one the slots listing could offer (the store's grid, in the
    future, within the booking horizon, ending by the stage's booking deadline); else DomainError, 400 on
    `window_start`. Whether a technician is free is the caller's business (under the technicians' locks)."""
    store = stage.order.store
    tz = store.tzinfo
    length = timedelta(minutes=appointment_minutes_for(stage))
    now = timezone.now()
    horizon_end = booking_horizon_end(store, now)
    # Compared before any arithmetic: a time near year 1 or 9999 overflows as soon as a zone or a length is
    # applied (comparing aware datetimes does not), and every window between now and the horizon is safe.
    if window_start <= now:
        raise _not_a_window()
    if window_start >= horizon_end:
        raise _beyond_horizon(horizon_end)
    local = window_start.astimezone(tz)
    opens = datetime.combine(local.date(), store.opens_at, tzinfo=tz)
    close = datetime.combine(local.date(), store.closes_at, tzinfo=tz)
    aligned = (local - opens) % length == timedelta(0)
    if local.weekday() not in store.working_days or local < opens or local + length > close or not aligned:
        raise _not_a_window()
    window_end = window_start + length
    if window_end > horizon_end:
        raise _beyond_horizon(horizon_end)
    deadline = hooks.booking_deadline(stage)
    if deadline is not None and window_end > deadline.until:
        raise DomainError(deadline.reason, code="invalid_window", errors={"window_start": [deadline.reason]})
    return window_end


def _not_a_window() -> DomainError:
    return DomainError(
        "That time is not one of the bookable windows; ask for the slots.",
        code="invalid_window",
        errors={"window_start": ["Not a bookable window."]},
    )


def _beyond_horizon(horizon_end: datetime) -> DomainError:
    days = settings.APPOINTMENT_BOOKING_HORIZON_DAYS
    message = (
        f"Visits can be booked up to {days} days ahead (until {horizon_end.strftime('%Y-%m-%d %H:%M')}, "
        "store time); pick one of the slots."
    )
    return DomainError(message, code="invalid_window", errors={"window_start": [message]})


def _lock_technicians(ids: list[int]) -> None:
    """Lock technician rows in pk order, so two bookings never deadlock and never double-book."""
    list(User.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def _free_technician(store: Store, start: datetime, end: datetime, *, moving: int | None = None,
                     prefer: int | None = None) -> int:
    """A technician for the window: `prefer` (the visit's own, when it is moved) if they still work at the store,
    are active and are free then, else the first such technician; their rows stay locked until the caller
    commits. `moving`: the visit being moved, which does not keep its technician busy. Conflict when nobody is
    free."""
    tech_ids = _store_technician_ids(store)
    _lock_technicians(tech_ids)
    busy = technicians_busy(tech_ids, start, end, exclude_pk=moving)
    free = [t for t in tech_ids if t not in busy]
    if not free:
        raise Conflict("That window has just been taken; pick another.", code="slot_taken")
    return prefer if prefer in free else free[0]


@transaction.atomic
def appointment_book(*, stage: StageInstance, window_start: datetime, actor) -> Appointment:
    """Book an on-site visit for the current stage, with a free technician of the store."""
    order = engine.lock_order(stage.order_id)
    stage = StageInstance.objects.select_related("definition", "order__store", "order__template_version").get(
        pk=stage.pk
    )
    if stage.order_id != order.pk or order.current_stage_id != stage.pk or stage.state != StageInstance.State.READY:
        allowed = engine.allowed_triggers(order, actor=actor)
        if order.current_stage_id == stage.pk and stage.state == StageInstance.State.WAITING_PAYMENT:
            raise InvalidTransition("Pay this stage's installment first: a visit can be booked once it is paid.",
                                    allowed=allowed)
        raise InvalidTransition("This stage cannot be booked now.", allowed=allowed)
    window_end = _validate_window(stage, window_start)
    technician_id = _free_technician(order.store, window_start, window_end)
    engine.fire_locked(
        order,
        trigger="book",
        actor=actor,
        stage_id=stage.pk,
        payload={"window_start": window_start.isoformat(), "technician": technician_id},
    )
    return Appointment.objects.create(
        order=order,
        stage=stage,
        store=order.store,
        technician_id=technician_id,
        window_start=window_start,
        window_end=window_end,
        booked_by=actor,
    )


@transaction.atomic
def appointment_reschedule(*, appointment: Appointment, window_start: datetime, actor) -> Appointment:
    """Move a booked visit to another window, or rebook a visit nobody came to (a no-show).

    A moved visit is cancelled and the new one counts one more move (a consumer may make
    APPOINTMENT_MAX_RESCHEDULES). A no-show stays as it is, the record of the missed visit: the new visit is
    booked beside it like a fresh booking (the first free technician, no move counted, no limit), once: while
    the stage has another visit (booked, on site or done), the no-show cannot be rebooked again."""
    order = engine.lock_order(appointment.order_id)
    appointment = Appointment.objects.select_related("stage__definition", "stage__order__store").get(pk=appointment.pk)
    missed = appointment.state == Appointment.State.NO_SHOW
    if missed:
        if Appointment.objects.filter(stage_id=appointment.stage_id).exclude(pk=appointment.pk).exclude(
            state__in=(Appointment.State.CANCELLED, Appointment.State.NO_SHOW)
        ).exists():
            raise InvalidTransition("This missed visit has been rebooked already: move the new visit.", allowed=[])
    elif appointment.state != Appointment.State.BOOKED:
        raise InvalidTransition("Only a booked visit, or one nobody came to, can be moved.", allowed=[])
    limit = settings.APPOINTMENT_MAX_RESCHEDULES
    if not missed and actor is not None and actor.role == Role.CONSUMER and appointment.reschedule_count >= limit:
        raise Conflict(
            f"This visit has already been moved {appointment.reschedule_count} times, the most a consumer may "
            f"move it ({limit}); contact the store to move it again.",
            code="reschedule_limit",
        )
    stage = appointment.stage
    window_end = _validate_window(stage, window_start)
    technician_id = _free_technician(order.store, window_start, window_end, moving=appointment.pk,
                                     prefer=None if missed else appointment.technician_id)
    engine.fire_locked(
        order,
        trigger="reschedule",
        actor=actor,
        stage_id=stage.pk,
        payload={"from": appointment.window_start.isoformat(), "to": window_start.isoformat(),
                 "technician": technician_id, "appointment": appointment.pk, "missed": missed},
    )
    if not missed:
        appointment.mark_cancelled()
        appointment.save()
    return Appointment.objects.create(
        order=order,
        stage=stage,
        store=order.store,
        technician_id=technician_id,
        window_start=window_start,
        window_end=window_end,
        booked_by=actor,
        reschedule_count=appointment.reschedule_count + (0 if missed else 1),
    )


@transaction.atomic
def appointment_assign(*, appointment: Appointment, technician: User, actor) -> Appointment:
    """Give the visit to an active technician of its store who is free for the window."""
    order = engine.lock_order(appointment.order_id)
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if not appointment.is_active:
        raise InvalidTransition("This visit is no longer active.", allowed=[])
    if technician.role != Role.TECHNICIAN or not technician.stores.filter(pk=appointment.store_id).exists():
        raise DomainError(
            "That technician does not work for this store.",
            code="invalid",
            errors={"technician": ["Not a technician of this store."]},
        )
    if not technician.is_active:
        # A deactivated account cannot log in: the visit would never be checked in.
        raise DomainError(
            "That technician's account is deactivated.",
            code="invalid",
            errors={"technician": ["This technician's account is deactivated."]},
        )
    if appointment.state != Appointment.State.BOOKED:
        raise InvalidTransition("The technician has already checked in.", allowed=[])
    _lock_technicians(sorted({technician.pk, appointment.technician_id or technician.pk}))
    if technicians_busy([technician.pk], appointment.window_start, appointment.window_end, exclude_pk=appointment.pk):
        raise Conflict("That technician has another visit in this window.", code="technician_busy")
    previous = appointment.technician_id
    appointment.technician = technician
    appointment.save(update_fields=["technician"])
    record_event(
        order=order,
        kind="appointment.assigned",
        actor=actor,
        stage=appointment.stage,
        payload={"appointment": appointment.pk, "technician": technician.pk, "previous": previous},
    )
    return appointment


def require_role(actor, *roles) -> None:
    if actor.role not in roles and not actor.is_operator:
        raise PermissionDeniedError("Your role may not do this.")
