"""Workflow templates: drafts, validation, publishing (a published version never changes), distribution to
stores (what stores may change within the brand's bounds: services.store_bounds)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, DomainError, NotFound
from core.money import allocate_with_fixed, part_errors
from tenancy.models import Merchant, Skill, Store
from tenancy.tiers import tier_check_template
from workflows.models import StageDefinition, TemplateDistribution, TemplateVersion, WorkflowTemplate

STAGE_FIELDS = (
    "code",
    "name",
    "description",
    "requires_appointment",
    "appointment_minutes",
    "requires_approval",
    "approval_requires_signature",
    "max_rework_rounds",
    "min_photos",
    "checklist",
    "requires_voucher",
    "voucher_valid_days",
    "payment_share",
    "payment_amount",
    "payment_currency",
    "payment_timing",
    "sla_hours",
    "arrival_tolerance_minutes",
    "refundable_on_cancel",
    "required_skill",
)
MAX_SLA_HOURS = 24 * 365
MAX_VOUCHER_VALID_DAYS = 3650  # as StageDefinition.voucher_valid_days' validator


class TemplateInvalid(DomainError):
    """The template cannot be published as it is."""

    code = "template_invalid"


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
    template = WorkflowTemplate.objects.select_for_update().get(pk=template.pk)
    for field in ("name", "description"):
        if field in data:
            setattr(template, field, data[field])
    template.save()
    if "stages" in data:
        tier_check_template(template.merchant, data["stages"])
        _write_stages(template_draft(template), data["stages"])
    return template


def template_problems(stages: list[StageDefinition], *, merchant_id: int | None = None) -> list[dict]:
    """Everything that keeps a set of stage definitions from being published, one message each (with the
    brand's `merchant_id`, a required skill must be on its list of skills)."""
    problems: list[dict] = []

    def add(stage, field, message):
        problems.append({"stage": getattr(stage, "code", None), "field": field, "message": message})

    if not stages:
        add(None, "stages", _("A workflow needs at least one stage."))
        return problems
    seen: set[str] = set()
    # One look at the brand's list for every stage's required skill.
    unknown_skills = set(Skill.unknown(merchant_id, [st.required_skill for st in stages])) if merchant_id else set()
    for st in stages:
        c = {"code": st.code}
        if st.code in seen:
            add(st, "code", _("Stage code '%(code)s' is used more than once.") % c)
        seen.add(st.code)
        if st.sla_hours is not None and not (1 <= st.sla_hours <= MAX_SLA_HOURS):
            add(st, "sla_hours",
                _("SLA of stage '%(code)s' must be between 1 and %(most)s hours.") % {**c, "most": MAX_SLA_HOURS})
        if st.requires_appointment and not (15 <= st.appointment_minutes <= 12 * 60):
            add(st, "appointment_minutes",
                _("Appointment of stage '%(code)s' must last 15 minutes to 12 hours.") % c)
        if st.arrival_tolerance_minutes > 24 * 60:
            add(st, "arrival_tolerance_minutes", _("Arrival tolerance of stage '%(code)s' is over a day.") % c)
        if not (1 <= st.voucher_valid_days <= MAX_VOUCHER_VALID_DAYS):
            add(st, "voucher_valid_days",
                _("Vouchers of stage '%(code)s' must be valid 1 to %(most)s days.")
                % {**c, "most": MAX_VOUCHER_VALID_DAYS})
        if st.requires_voucher and not st.requires_appointment:
            add(st, "requires_voucher",
                _("Stage '%(code)s' asks for a voucher but has no on-site appointment.") % c)
        if st.payment_share is not None and st.payment_share <= 0:
            add(st, "payment_share", _("Payment share of stage '%(code)s' must be positive, or empty.") % c)
        for field, messages in part_errors(st.payment_share, st.payment_amount, st.payment_currency).items():
            for message in messages:
                add(st, field, _("Payment of stage '%(code)s': %(problem)s") % {**c, "problem": message})
        if not isinstance(st.checklist, list) or not all(isinstance(i, str) and i.strip() for i in st.checklist):
            add(st, "checklist", _("Checklist of stage '%(code)s' must be a list of non-empty texts.") % c)
        elif len({i.strip() for i in st.checklist}) != len(st.checklist):
            # The technician ticks items by their text: two alike could never be told apart.
            add(st, "checklist", _("Checklist of stage '%(code)s' lists an item more than once.") % c)
        if st.required_skill in unknown_skills:
            add(st, "required_skill", _("Stage '%(code)s' requires '%(skill)s', which is not among the brand's "
                                        "skills.") % {**c, "skill": st.required_skill})
    shares = [st.payment_share for st in stages if st.payment_share is not None]
    if shares and sum(shares, Decimal(0)) != Decimal(100):
        add(None, "payment_share",
            _("Payment shares add up to %(sum)s%%, not 100%%.") % {"sum": sum(shares, Decimal(0))})
    fixed = {st.payment_currency.upper() for st in stages if st.payment_amount is not None}
    if fixed and not shares:
        # An order's total is its own (set by measuring): with no share, a total other than the fixed amounts'
        # sum could not be split exactly. A fixed amount that quietly took the rest would not be fixed.
        add(None, "payment_amount", _("Every payment is a fixed amount: give at least one stage a payment share, "
                                      "which takes the rest of the order's total."))
    if len(fixed) > 1:
        add(None, "payment_currency", _("Fixed amounts are in several currencies (%(currencies)s): use one.")
            % {"currencies": ", ".join(sorted(fixed))})
    return problems


def template_split(version: TemplateVersion, total: Decimal, currency: str) -> list[tuple[StageDefinition, Decimal]]:
    """How `total` would split into installments under this version: each paying stage with its amount, the fixed
    amounts first and the shares splitting the rest, as payments makes them (core.money.allocate_with_fixed).
    A total below the fixed amounts, or in another currency than theirs, is refused (400)."""
    stages = [s for s in version.stages.order_by("position") if s.carries_payment]
    return list(zip(stages, allocate_with_fixed(total, [s.payment_part for s in stages], currency), strict=True))


@transaction.atomic
def template_publish(*, template: WorkflowTemplate, actor=None) -> TemplateVersion:
    """Validate the draft and freeze it as the next version number."""
    template = WorkflowTemplate.objects.select_for_update().get(pk=template.pk)
    draft = template.versions.filter(status=TemplateVersion.Status.DRAFT).first()
    if draft is None:
        raise Conflict(_("There is no draft to publish: edit the template first."), code="nothing_to_publish")
    stages = list(draft.stages.order_by("position"))
    problems = template_problems(stages, merchant_id=template.merchant_id)
    if problems:
        raise TemplateInvalid(
            _("The template has problems: %(problems)s") % {"problems": " ".join(p["message"] for p in problems)},
            problems=problems,
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
        raise Conflict(_("Publish the template before distributing it."), code="not_published")
    foreign = [s.pk for s in stores if s.merchant_id != template.merchant_id]
    if foreign:
        raise NotFound(_("No such store."))
    result = []
    for store in stores:
        dist, _created = TemplateDistribution.objects.update_or_create(
            template=template,
            store=store,
            defaults={"version": version, "distributed_by": actor if getattr(actor, "pk", None) else None},
        )
        result.append(dist)
    return result


@transaction.atomic
def template_stage_move(*, version: TemplateVersion, stage_id: int, offset: int, actor=None) -> list[int]:
    """Move one stage of a draft up (offset -1) or down (+1): it swaps places with its neighbour, the others keep
    theirs. The template's row is locked (as every draft edit locks it). Returns the stage ids in their new order."""
    WorkflowTemplate.objects.select_for_update().filter(pk=version.template_id).first()
    version = TemplateVersion.objects.get(pk=version.pk)
    if version.status != TemplateVersion.Status.DRAFT:
        raise Conflict("Published versions are frozen: edit the draft.", code="version_published")
    stages = list(version.stages.order_by("position"))
    index = next((i for i, s in enumerate(stages) if s.pk == stage_id), None)
    if index is None:
        raise NotFound("No such stage in this draft.")
    other = index + offset
    if offset not in (-1, 1) or not 0 <= other < len(stages):
        raise DomainError("That stage cannot move further.", code="invalid")
    a, b = stages[index], stages[other]
    # (version, position) is unique: park one stage out of the way while the two swap.
    StageDefinition.objects.filter(pk=a.pk).update(position=stages[-1].position + 1)
    StageDefinition.objects.filter(pk=b.pk).update(position=a.position)
    StageDefinition.objects.filter(pk=a.pk).update(position=b.position)
    stages[index], stages[other] = b, a
    return [s.pk for s in stages]
