"""The load test's data, built with the product's services (as a store's people would make it), and the plan the
Locust users follow: which orders to read, which visits to work, which payments the provider confirms, which
staff actions to take. Run in the runner's process (bench/load/run.py), before the server starts.

One brand (enterprise tier), one store open 08:00-20:00 every day, `technicians` technicians, a store manager,
`consumers` consumers and the reference wardrobe workflow; then, for a run of `requests` requests, one pool of
orders per kind of write, each order used once:

- visits to work (technicians): wardrobe orders with the deposit paid through the sandbox's signed webhook and the
  measuring visit booked through the booking service, then moved to start between an hour ago and an hour ahead
  (a check-in more than CHECKIN_EARLIEST_MINUTES, 120, before the window is refused; the bookings the service
  offers start tomorrow at the earliest, so, as demo/builder.py does, the window is moved, the rule left as it is);
- payments to confirm (the provider): orders waiting for their deposit with a payment started (installment_pay);
- visits to give to another technician, orders to book a visit for, design stages to submit (orders driven to
  design:ready by demo.builder.Driver: deposit, visit, check-in, voucher, photos, check-out, complete) and orders
  to cancel (deposit paid: the cancellation refunds it through the worker) for the store manager.

Consumers read every order of every pool (its detail, their order list, its tracking page) while it changes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from datetime import time as dtime
from datetime import timedelta
from decimal import Decimal

# What the requests are, in hundredths of the run (the mix: consumers 60 %, technicians 20 %, the provider
# 10 %, staff 10 %). Each request kind is named "<who>: <what>" in Locust's statistics.
MIX = {
    "consumer: order detail": 35, "consumer: order list": 10, "consumer: tracking page": 15,
    "technician: job step": 20,
    "provider: payment notification": 10,
    "staff: assign": 2.5, "staff: book": 2.5, "staff: submit": 2.5, "staff: cancel": 2.5,
}
JOB_STEPS = ("check-in", "redeem voucher", "evidence", "evidence", "check-out", "complete")
REDELIVERY_EVERY = 10  # every 10th payment notification is the provider sending an earlier one again


def counts(requests: int) -> dict[str, int]:
    """Requests per kind, adding up to `requests` exactly (the remainder goes to the order detail)."""
    out = {kind: math.floor(requests * share / 100) for kind, share in MIX.items()}
    out["consumer: order detail"] += requests - sum(out.values())
    return out


@dataclass
class Plan:
    requests: int
    counts: dict
    webhook_secret: str
    manager_token: str
    readers: list = field(default_factory=list)  # {order, token, tracking}
    jobs: list = field(default_factory=list)  # {job, token, latitude, longitude, voucher, checklist}
    payments: list = field(default_factory=list)  # sandbox payment_event_data
    assign: list = field(default_factory=list)  # {appointment, technician}
    book: list = field(default_factory=list)  # {order, stage, window_start}
    submit: list = field(default_factory=list)  # {stage, order}
    cancel: list = field(default_factory=list)  # {order}

    def as_dict(self) -> dict:
        return asdict(self)


class Builder:
    def __init__(self, *, technicians: int, consumers: int, log=print):
        from rest_framework.authtoken.models import Token

        from tests.factories.tenancy import (
            ConsumerFactory,
            MerchantFactory,
            StoreFactory,
            StoreManagerFactory,
            TechnicianFactory,
        )
        from tests.factories.workflows import make_template
        from workflows.reference import CUSTOM_WARDROBE

        self.log = log
        self.merchant = MerchantFactory(tier="enterprise", name="Load Test Wardrobes", slug="load-wardrobes")
        self.store = StoreFactory(merchant=self.merchant, opens_at=dtime(8, 0), closes_at=dtime(20, 0),
                                  working_days=[0, 1, 2, 3, 4, 5, 6])
        self.manager = StoreManagerFactory(stores=[self.store])
        self.technicians = [TechnicianFactory(stores=[self.store]) for _ in range(technicians)]
        self.consumers = [ConsumerFactory() for _ in range(consumers)]
        self.template = make_template(merchant=self.merchant, stores=[self.store], definition=CUSTOM_WARDROBE)
        self.tokens = {u.pk: Token.objects.get_or_create(user=u)[0].key
                       for u in [self.manager, *self.technicians, *self.consumers]}
        self._consumer = itertools.cycle(self.consumers)
        self.orders: list = []

    # --- orders in each state, through the services -------------------------------------------------
    def new_order(self):
        from tests.factories.workflows import make_order

        order = make_order(store=self.store, consumer=next(self._consumer), template=self.template,
                           total=Decimal("12000.00"), actor=self.manager)
        self.orders.append(order)
        return order

    def paid_order(self):
        from bench.run import pay_due

        order = self.new_order()
        pay_due(order)  # the deposit, through the sandbox's signed webhook
        return order

    def measuring_stage(self, order):
        return order.stages.select_related("definition").get(definition__code="measuring")

    def windows(self, first_day: int):
        """The store's 90-minute windows from `first_day` days ahead on."""
        from django.utils import timezone

        from bench.run import window_starts

        first = timezone.localdate(timezone=self.store.tzinfo) + timedelta(days=first_day)
        return (w for w in window_starts(self.store, 90) if w.date() >= first)

    def build(self, requests: int, users: int) -> Plan:
        from django.conf import settings

        n = counts(requests)
        plan = Plan(requests=requests, counts=n, webhook_secret=settings.SANDBOX_WEBHOOK_SECRET,
                    manager_token=self.tokens[self.manager.pk])
        # Every job in flight is one user's, so users + 1 spare jobs keep one always free to take.
        n_jobs = math.ceil(n["technician: job step"] / len(JOB_STEPS)) + users + 1
        n_payments = n["provider: payment notification"] - n["provider: payment notification"] // REDELIVERY_EVERY
        self.log(f"data: {n_jobs} visits to work, {n_payments} payments to confirm, {n['staff: assign']} + "
                 f"{n['staff: book']} + {n['staff: submit']} + {n['staff: cancel']} staff actions")
        early = self.windows(1)
        plan.jobs = [self.job(i, early) for i in range(n_jobs)]
        plan.payments = [self.open_payment() for _ in range(max(n_payments, 1))]
        plan.assign = self.assign_targets(n["staff: assign"], early)
        plan.book = self.book_targets(n["staff: book"])
        plan.submit = [self.submit_target(i) for i in range(n["staff: submit"])]
        plan.cancel = [{"order": self.paid_order().pk} for _ in range(n["staff: cancel"])]
        plan.readers = [self.reader(order) for order in self.orders]
        return plan

    def job(self, i: int, windows) -> dict:
        from django.utils import timezone

        from tests.factories.fieldwork import move_window
        from vouchers.models import Voucher
        from vouchers.services import voucher_code
        from workflows import services as wf

        order = self.paid_order()
        stage = self.measuring_stage(order)
        if i % len(self.technicians) == 0:
            self._window = next(windows)
        appt = wf.appointment_book(stage=stage, window_start=self._window, actor=order.consumer)
        # Now, give or take an hour: some technicians early, most on time, some late.
        move_window(appt, timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=(i % 9) * 15 - 60))
        voucher = Voucher.objects.get(stage=stage, state="issued")
        return {"job": appt.pk, "token": self.tokens[appt.technician_id], "latitude": float(order.latitude),
                "longitude": float(order.longitude), "voucher": voucher_code(voucher),
                "checklist": list(stage.definition.checklist), "order": order.pk}

    def open_payment(self) -> dict:
        from payments.models import Installment
        from payments.providers.sandbox import payment_event_data
        from payments.services import installment_pay

        order = self.new_order()
        installment = Installment.objects.get(order=order, state__in=Installment.PAYABLE_STATES)
        return payment_event_data(installment_pay(installment=installment, actor=order.consumer).payment)

    def assign_targets(self, n: int, windows) -> list[dict]:
        """Visits booked by their consumer, each to be given to a technician free in its window (half the
        technicians are booked in each window, the other half are the ones staff give the visits to)."""
        from workflows import services as wf

        targets: list[dict] = []
        per_window = max(1, len(self.technicians) // 2)
        while len(targets) < n:
            window, booked = next(windows), []
            for _ in range(min(per_window, n - len(targets))):
                order = self.paid_order()
                booked.append(wf.appointment_book(stage=self.measuring_stage(order), window_start=window,
                                                  actor=order.consumer))
            free = [t.pk for t in self.technicians if t.pk not in {a.technician_id for a in booked}]
            targets += [{"appointment": a.pk, "technician": tech} for a, tech in zip(booked, free, strict=False)]
        return targets

    def book_targets(self, n: int) -> list[dict]:
        """Orders with the deposit paid, each with a window a week ahead or more (nothing else is booked there),
        at most one booking per technician in a window."""
        windows = self.windows(8)
        targets: list[dict] = []
        for i in range(n):
            if i % len(self.technicians) == 0:
                window = next(windows)
            order = self.paid_order()
            targets.append({"order": order.pk, "stage": self.measuring_stage(order).pk,
                            "window_start": window.isoformat()})
        return targets

    def submit_target(self, i: int) -> dict:
        from demo.builder import Driver

        order = self.new_order()
        Driver(order=order, manager=self.manager, technician=self.technicians[i % len(self.technicians)]).run_to(
            "design:ready")
        return {"order": order.pk, "stage": order.stages.get(definition__code="design").pk}

    def reader(self, order) -> dict:
        from notifications.services import tracking_url

        return {"order": order.pk, "token": self.tokens[order.consumer_id], "tracking": tracking_url(order)}
