"""A believable demo: the contract's tenants and accounts, the reference workflows published and
distributed, and orders standing in every stage — each moved there by the same services the API
calls (payments through the sandbox webhook path, visits through the technician services).

Idempotent: each demo order has a fixed number (DEMO01 ...); one that exists is left as it is.

An order's earlier stages are acted out in the store's past working days (demo.clock), so its finished stages
took believable times (measuring a few hours, design a few days); its current stage is reached a day or more ago
and what is done in it (a booking, a check-in, a submitted design) is done at the real now.
"""

from __future__ import annotations

import io
import uuid
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from core.errors import Conflict
from demo.clock import HistoryClock
from fieldwork import services as field
from payments.models import Installment
from payments.services import installment_pay, sandbox_checkout_complete
from tenancy.demo import load_tenancy_demo
from vouchers.models import Voucher
from vouchers.services import voucher_code, voucher_redeem
from workflows import services as wf
from workflows.models import Appointment, ServiceOrder, TemplateVersion, WorkflowTemplate
from workflows.reference import BUILT_IN_APPLIANCE, CUSTOM_WARDROBE, LARGE_APPLIANCE

REFERENCE = {"wardrobe": CUSTOM_WARDROBE, "appliance": LARGE_APPLIANCE, "built_in": BUILT_IN_APPLIANCE}
# How the demo's past goes (Driver.step, on demo.clock): the consumer pays 90 minutes after being asked and books a
# visit 20 minutes after it can (the first free window); the technician checks in 5 minutes into the window and out
# 10 minutes before its end; the store delivers an off-site stage 30 minutes after it can start (a design two
# working days later); the consumer approves it the next working day.
OFF_SITE_WORK_DAYS = {"design": 2}

HOMES = [
    ("18 Lane 500 Wuyuan Road, Xuhui District, Shanghai", Decimal("31.214300"), Decimal("121.437800")),
    ("Room 1202, 88 Changshou Road, Putuo District, Shanghai", Decimal("31.241900"), Decimal("121.441200")),
    ("9 Lane 221 Fuxing West Road, Xuhui District, Shanghai", Decimal("31.210600"), Decimal("121.442900")),
]

# (number, template key, consumer, stop at, total)
ORDERS = [
    ("DEMO01", "wardrobe", "consumer_zhang", "booking:waiting_payment", "12000.00"),
    ("DEMO02", "wardrobe", "consumer_chen", "measuring:ready", "18800.00"),
    ("DEMO03", "wardrobe", "consumer_zhang", "measuring:scheduled", "9600.00"),
    ("DEMO04", "wardrobe", "consumer_chen", "measuring:in_progress", "15500.00"),
    ("DEMO05", "wardrobe", "consumer_zhang", "design:ready", "12000.00"),
    ("DEMO06", "wardrobe", "consumer_chen", "design:awaiting_approval", "21000.00"),
    ("DEMO07", "wardrobe", "consumer_zhang", "installation:waiting_payment", "12000.00"),
    ("DEMO08", "wardrobe", "consumer_chen", "installation:scheduled", "13200.00"),
    ("DEMO09", "wardrobe", "consumer_zhang", "acceptance:awaiting_approval", "12000.00"),
    ("DEMO10", "wardrobe", "consumer_chen", "closing", "16400.00"),
    ("DEMO11", "wardrobe", "consumer_zhang", "completed", "12000.00"),
    ("DEMO12", "wardrobe", "consumer_chen", "cancelled", "8800.00"),
    ("DEMO13", "appliance", "consumer_zhang", "delivery:scheduled", "6999.00"),
    ("DEMO14", "appliance", "consumer_chen", "completed", "4599.00"),
    # A fixed 500.00 deposit: DEMO15 owes it, DEMO16 paid it and owes the rest (8,499.00) before its visit.
    ("DEMO15", "built_in", "consumer_zhang", "booking:waiting_payment", "6800.00"),
    ("DEMO16", "built_in", "consumer_chen", "installation:waiting_payment", "8999.00"),
]
OTHER_ORDERS = [("DEMO21", "appliance", "consumer_wu", "delivery:ready", "5299.00")]


def _photo(name: str) -> SimpleUploadedFile:
    """A photo of its own for each name: the same photo twice on an order is refused (duplicate_evidence)."""
    shade = zlib.crc32(name.encode()) % 60
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (170 + shade, 140, 110)).save(buf, format="JPEG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/jpeg")


def _draft_pdf(name: str) -> SimpleUploadedFile:
    """A one-page PDF standing in for the design draft the consumer is asked to approve."""
    buf = io.BytesIO()
    Image.new("RGB", (595, 842), (235, 228, 215)).save(buf, format="PDF")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="application/pdf")


def _template(merchant, definition, stores, admin) -> WorkflowTemplate:
    template = WorkflowTemplate.objects.filter(merchant=merchant, name=definition["name"]).first()
    if template is None:
        template = wf.template_create(merchant=merchant, actor=admin, **definition)
    if not template.versions.filter(status=TemplateVersion.Status.PUBLISHED).exists():
        wf.template_publish(template=template, actor=admin)
    wf.template_distribute(template=template, stores=stores, actor=admin)
    return template


@dataclass
class Driver:
    """Moves one order forward the way its people would."""

    order: ServiceOrder
    manager: object
    technician: object
    clock: HistoryClock | None = None  # set while the order's past is acted out

    def wait(self, *, minutes: int = 0, working_days: int = 0) -> None:
        if self.clock is not None:
            self.clock.advance(minutes=minutes, working_days=working_days)

    def refresh(self) -> str:
        self.order.refresh_from_db()
        return self.order.state

    def pay_due(self) -> None:
        for inst in Installment.objects.filter(order=self.order, state__in=Installment.PAYABLE_STATES):
            payment = installment_pay(installment=inst, actor=self.order.consumer).payment
            sandbox_checkout_complete(payment=payment, outcome="paid")

    def book(self, code: str):
        stage = self.order.stages.get(definition__code=code)
        slots = wf.appointment_slots(stage=stage)
        # The first window the preferred technician is free in: the first slot only needs one technician free, and
        # early in the store's day that is the other one while the preferred one has a visit parked today.
        slot = next((s for s in slots if _technician_free(self.technician.pk, s.start, s.end)), slots[0])
        appt = wf.appointment_book(stage=stage, window_start=slot.start, actor=self.order.consumer)
        if appt.technician_id == self.technician.pk:
            return appt
        try:
            return wf.appointment_assign(appointment=appt, technician=self.technician, actor=self.manager)
        except Conflict:
            return appt  # the preferred technician is busy then: the booked one goes

    def check_in(self, appt) -> None:
        if self.clock is None or not self.clock.reach(appt.window_start + timedelta(minutes=5)):
            _move_to_today(appt, minutes_from_now=-10)
        field.job_check_in(
            technician=appt.technician,
            job_id=appt.pk,
            client_event_id=uuid.uuid4(),
            recorded_at=timezone.now(),
            latitude=self.order.latitude + Decimal("0.0003"),
            longitude=self.order.longitude,
            accuracy_m=10,
        )

    def finish_visit(self, appt, code: str) -> None:
        definition, technician = appt.stage.definition, appt.technician
        if self.clock is not None:
            self.clock.reach(max(appt.window_end - timedelta(minutes=10), timezone.now()))
        voucher = Voucher.objects.filter(stage=appt.stage, state="issued").first()
        if voucher is not None:
            voucher_redeem(code=voucher_code(voucher), actor=technician, job_id=appt.pk)
        for i in range(definition.min_photos):
            field.job_evidence_add(
                technician=technician,
                job_id=appt.pk,
                client_event_id=uuid.uuid4(),
                kind="photo",
                file=_photo(f"{code}-{i + 1}.jpg"),
            )
        field.job_check_out(
            technician=technician,
            job_id=appt.pk,
            client_event_id=uuid.uuid4(),
            recorded_at=timezone.now(),
            latitude=self.order.latitude,
            longitude=self.order.longitude,
            notes="All done, site cleaned.",
            checklist={item: True for item in definition.checklist},
        )
        field.job_complete(technician=technician, job_id=appt.pk)

    def submit_and_approve(self, code: str, *, approve: bool = True, notes: str = "") -> None:
        stage = self.order.stages.get(definition__code=code)
        files = [_draft_pdf(f"{self.order.number}-{code}-draft.pdf")] if code == "design" else []
        wf.stage_submit(stage=stage, actor=self.manager, notes=notes or f"{stage.definition.name} ready for review",
                        files=files)
        if approve:
            wf.stage_approve(stage=stage, actor=self.order.consumer)

    def step(self) -> None:
        """One move from the current state."""
        state = self.refresh()
        code, _, sub = state.partition(":")
        if state == "closing" or sub == "waiting_payment":
            self.wait(minutes=90)
            self.pay_due()
        elif sub == "ready" and self.order.current_stage.definition.requires_appointment:
            self.wait(minutes=20)
            self.book(code)
        elif sub == "scheduled":
            self.check_in(self.order.appointments.get(stage__definition__code=code, state="booked"))
        elif sub == "in_progress" and self.order.current_stage.definition.requires_appointment:
            self.finish_visit(self.order.appointments.get(stage__definition__code=code, state="checked_in"), code)
        elif sub == "ready":
            self.wait(minutes=30, working_days=OFF_SITE_WORK_DAYS.get(code, 0))
            self.submit_and_approve(code, approve=False)
        elif sub == "awaiting_approval":
            self.wait(working_days=1)
            wf.stage_approve(stage=self.order.current_stage, actor=self.order.consumer)
        else:
            raise RuntimeError(f"demo cannot move an order at {state}")

    def run_to(self, target: str, *, clock: HistoryClock | None = None) -> None:
        """Step to `target`: on `clock` while the order is in a stage before the target's, then at the real now."""
        current = _target_stage(target)
        for _ in range(40):
            state = self.refresh()
            self.clock = clock if state.partition(":")[0] != current else None
            if state == target:
                if target.endswith(":scheduled"):
                    # Parked before its visit: the visit is today, so a technician trying the API can check in.
                    _park_today(self.order.appointments.get(state="booked"))
                return
            with self.clock.applied() if self.clock else nullcontext():
                if target == "cancelled" and state == "design:ready":
                    wf.order_cancel(order=self.order, actor=self.manager, reason="The consumer is moving abroad.")
                    continue
                self.step()
        raise RuntimeError(f"demo order {self.order.number} did not reach {target} (at {self.order.state})")


def _target_stage(target: str) -> str:
    """The stage an order stopped at `target` is in (a cancelled demo order was cancelled in its design)."""
    return {"cancelled": "design"}.get(target, target.partition(":")[0])


def _history_days(stages: list[dict], target: str) -> int:
    """Working days the stages before the target's take in the demo's past (demo.clock), and one to spare: a visit,
    or a step past closing time, moves to the next working day."""
    days = 1
    for stage in stages:
        if stage["code"] == _target_stage(target):
            break
        if stage.get("requires_appointment"):
            days += 1
        else:
            days += OFF_SITE_WORK_DAYS.get(stage["code"], 0) + (1 if stage.get("requires_approval") else 0)
    return days


def _technician_free(technician_id, start, end, *, exclude_pk=None) -> bool:
    return not wf.technicians_busy([technician_id], start, end, exclude_pk=exclude_pk)


def _move_to_today(appt, *, minutes_from_now: int) -> None:
    """The demo walks weeks of work in seconds, and the first free window may be days ahead: a visit it checks in
    (or parks before) is moved to now (or later today), since a check-in long before its window is refused."""
    start = _minute(minutes_from_now)
    Appointment.objects.filter(pk=appt.pk).update(window_start=start,
                                                  window_end=start + (appt.window_end - appt.window_start))


def _park_today(appt) -> None:
    """A parked visit starts 30 minutes from now, or two hours later for each time its technician is busy then."""
    length = appt.window_end - appt.window_start
    minutes = 30
    while not _technician_free(appt.technician_id, _minute(minutes), _minute(minutes) + length, exclude_pk=appt.pk):
        minutes += 120
    _move_to_today(appt, minutes_from_now=minutes)


def _minute(minutes_from_now: int):
    """A time on the minute, `minutes_from_now` away."""
    return timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=minutes_from_now)


def _orders(specs, templates, store, users, manager, technician, created):
    for i, (number, key, consumer, target, total) in enumerate(specs):
        if ServiceOrder.objects.filter(number=number).exists():
            continue
        address, lat, lng = HOMES[i % len(HOMES)]
        clock = HistoryClock(store, working_days_ago=_history_days(REFERENCE[key]["stages"], target))
        with clock.applied(), transaction.atomic():
            order = wf.order_create(
                template=templates[key],
                store=store,
                consumer=users[consumer],
                total_amount=Decimal(total),
                currency="CNY",
                service_address=address,
                latitude=lat,
                longitude=lng,
                actor=manager,
            )
            ServiceOrder.objects.filter(pk=order.pk).update(number=number)
            order.refresh_from_db()
        Driver(order=order, manager=manager, technician=technician).run_to(target, clock=clock)
        created.append(order)


def load_demo() -> dict:
    tenancy = load_tenancy_demo()
    users = tenancy["users"]
    lumen, harbor = tenancy["merchant"], tenancy["other_merchant"]
    jingan, xihu = tenancy["stores"][0], tenancy["other_stores"][0]
    templates = {
        "wardrobe": _template(lumen, CUSTOM_WARDROBE, tenancy["stores"], users["brand_admin"]),
        "appliance": _template(lumen, LARGE_APPLIANCE, tenancy["stores"], users["brand_admin"]),
        "built_in": _template(lumen, BUILT_IN_APPLIANCE, tenancy["stores"], users["brand_admin"]),
    }
    other_templates = {"appliance": _template(harbor, LARGE_APPLIANCE, [xihu], users["other_admin"])}
    created: list[ServiceOrder] = []
    _orders(ORDERS, templates, jingan, users, users["store_manager"], users["tech_li"], created)
    _orders(OTHER_ORDERS, other_templates, xihu, users, users["other_manager"], users["tech_zhao"], created)
    return {"created": created, "orders": list(ServiceOrder.objects.filter(number__startswith="DEMO"))}
