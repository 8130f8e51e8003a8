"""The payments app's money figure in the metrics, rolled up (payments.rollup through workflows.hooks): paid and
refunded from the rolled days plus the live rest are exactly the ledger's sums (Decimal, per currency) for any
window and every role; what is owed is the roll-up job's snapshot, with its time, while it is recent, else read
live; rolling again changes nothing; the figure's statements do not grow with the rows."""

from contextlib import contextmanager
from datetime import datetime, time, timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from insights import rollups
from insights.models import DayFigure
from insights.selectors import app_figure, metrics_scope, scoped_orders
from payments import rollup as money_rollup
from payments.models import Installment, LedgerEntry, OpenMoney, Payment
from tests.factories.workflows import make_order

NOW = timezone.make_aware(datetime(2026, 3, 20, 10, 30))  # site time zone (Asia/Shanghai)
CURRENCIES = ("CNY", "EUR", "JPY")
S = Installment.State


@pytest.fixture
def shop(merchant, store, store2, other_merchant, other_store, consumer):
    """One order per store and currency, for two brands."""
    merchant.tier = other_merchant.tier = "enterprise"
    merchant.save()
    other_merchant.save()
    with time_machine.travel(NOW - timedelta(days=30), tick=False):
        return [make_order(store=st, consumer=consumer, currency=cur, total=Decimal("12000"))
                for st in (store, store2, other_store) for cur in CURRENCIES]


def _entries(orders, drawn) -> list[LedgerEntry]:
    """Ledger entries as drawn: (order index, refund?, amount in cents, seconds before NOW), dated by hand."""
    installments = {o.pk: Installment.objects.filter(order=o).order_by("position").first() for o in orders}
    made = []
    for i, refund, cents, ago in drawn:
        order = orders[i % len(orders)]
        inst = installments[order.pk]
        amount = Decimal(cents) / 100 if order.currency != "JPY" else Decimal(cents)
        payment = Payment.objects.create(installment=inst, order=order, provider="sandbox", amount=amount,
                                         currency=order.currency, status="captured")
        entry = LedgerEntry.objects.create(order=order, installment=inst, payment=payment, amount=amount,
                                           currency=order.currency, kind="refund" if refund else "charge")
        # Entries are dated when written (append-only): the test writes them at NOW and moves them back.
        LedgerEntry._base_manager.filter(pk=entry.pk).update(created_at=NOW - timedelta(seconds=ago))
        made.append(LedgerEntry._base_manager.get(pk=entry.pk))
    return made


def _owe(orders, states) -> None:
    for order, state in zip(orders, states, strict=False):
        Installment.objects.filter(order=order).update(state=state)


@contextmanager
def _live():
    """The figure as computed before the roll-up: every ledger row of the window, every open installment now."""
    with mock.patch.object(rollups, "rolled_until", lambda: None), \
            mock.patch.object(money_rollup, "max_age", lambda: timedelta(minutes=-1)):
        yield


def _at(text):
    return datetime.fromisoformat(text) if text else None


def _money(scope):
    return app_figure(scope, rollups.window_figures(scope, scoped_orders(scope)), "payments")


def _window(a, b, seconds):
    start = timezone.make_aware(datetime.combine(NOW.date() - timedelta(days=a), time.min)) if a is not None else None
    end = (timezone.make_aware(datetime.combine(NOW.date() - timedelta(days=b), time.min)) + timedelta(days=1)
           if b is not None else None)
    if start is not None and seconds is not None:
        start += timedelta(seconds=seconds)  # a date-time, not a whole day
    if start and end and start >= end:
        start, end = end - timedelta(days=1), start + timedelta(days=1)
    return start, end


ENTRY = st.tuples(st.integers(0, 8), st.booleans(), st.integers(1, 10**9), st.integers(0, 12 * 86400))
DAY = st.one_of(st.none(), st.integers(0, 13))
WINDOW = st.tuples(DAY, DAY, st.one_of(st.none(), st.integers(0, 86399)))


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.generate])
@given(drawn=st.lists(ENTRY, max_size=25), windows=st.lists(WINDOW, min_size=1, max_size=3),
       states=st.lists(st.sampled_from(list(S.values)), min_size=9, max_size=9))
def test_rolled_money_is_the_ledger_and_the_open_installments_for_any_window_and_role(
        shop, operator, merchant_admin, store_manager, other_admin, drawn, windows, states):
    with transaction.atomic(), time_machine.travel(NOW, tick=False):
        entries = _entries(shop, drawn)
        _owe(shop, states)
        rollups.roll_finished_days()
        for a, b, seconds in windows:
            start, end = _window(a, b, seconds)
            for user in (operator, merchant_admin, store_manager, other_admin):
                scope = metrics_scope(user=user, date_from=start, date_to=end)
                rolled = _money(scope)
                assert {_at(r.pop("outstanding_as_of")) for r in rolled} <= {NOW}  # the job's snapshot
                with _live():
                    live = _money(scope)
                assert {r.pop("outstanding_as_of") for r in live} <= {None}
                assert rolled == live, (user.username, start, end)
            # The operator's sums are the ledger's, to the cent (Decimal all the way).
            rolled = {r["currency"]: r for r in _money(metrics_scope(user=operator, date_from=start, date_to=end))}
            for cur in CURRENCIES:
                mine = [e for e in entries if e.currency == cur and (start is None or e.created_at >= start)
                        and (end is None or e.created_at < end)]
                for kind, name in (("charge", "paid"), ("refund", "refunded")):
                    expected = sum((e.amount for e in mine if e.kind == kind), Decimal(0))
                    got = rolled[cur][name] if cur in rolled else "0"
                    assert Decimal(got) == expected, (cur, name, start, end)
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_rolling_again_changes_nothing_and_the_snapshot_follows_the_job(shop, operator, store_manager, store):
    with time_machine.travel(NOW, tick=False):
        _entries(shop, [(i, i % 4 == 0, 1234 + i, i * 7000) for i in range(30)])
        rollups.roll_finished_days()
        rolled = sorted(DayFigure.objects.filter(figure="payments").values_list(
            "day", "store_id", "key", "count", "total"))
        snapshot = sorted(OpenMoney.objects.values_list("store_id", "currency", "outstanding", "due_now"))
        assert rolled and snapshot
        rollups.roll_finished_days()
        rollups.roll(NOW - timedelta(minutes=10), NOW.date() - timedelta(days=30))
        assert sorted(DayFigure.objects.filter(figure="payments").values_list(
            "day", "store_id", "key", "count", "total")) == rolled
        assert sorted(OpenMoney.objects.values_list("store_id", "currency", "outstanding", "due_now")) == snapshot

        # What is owed changes: the snapshot shows it after the next run, and says when it was taken.
        order = shop[0]
        scope = metrics_scope(user=store_manager)
        before = {r["currency"]: r for r in _money(scope)}
        Installment.objects.filter(order=order).update(state=S.PAID)
        assert {r["currency"]: r for r in _money(scope)} == before
    later = NOW + timedelta(minutes=15)
    with time_machine.travel(later, tick=False):
        rollups.roll_finished_days()
        after = {r["currency"]: r for r in _money(scope)}
        assert Decimal(after[order.currency]["outstanding"]) == 0 < Decimal(before[order.currency]["outstanding"])
        assert _at(after[order.currency]["outstanding_as_of"]) == later


@pytest.mark.django_db
def test_an_old_snapshot_or_a_technician_filter_reads_what_is_owed_live(shop, operator, merchant_admin, technician):
    with time_machine.travel(NOW, tick=False):
        rollups.roll_finished_days()
    with time_machine.travel(NOW + timedelta(minutes=29), tick=False):
        assert {_at(r["outstanding_as_of"]) for r in _money(metrics_scope(user=operator))} == {NOW}
    with time_machine.travel(NOW + timedelta(minutes=31), tick=False):  # the job stopped: not shown stale
        fresh = _money(metrics_scope(user=operator))
        assert fresh and {r["outstanding_as_of"] for r in fresh} == {None}
        # The snapshot is not per technician: live (here: no visit, so nothing).
        assert _money(metrics_scope(user=merchant_admin, technician=technician.pk)) == []


@pytest.mark.django_db
def test_the_money_figure_reads_a_fixed_number_of_statements(shop, operator, django_assert_num_queries):
    def cost(n):
        with time_machine.travel(NOW, tick=False):
            _entries(shop, [(i, i % 3 == 0, 500 + i, i * 3000) for i in range(n)])
            rollups.roll_finished_days()
            scope = metrics_scope(user=operator, date_to=NOW - timedelta(hours=1))
            figures = rollups.window_figures(scope, scoped_orders(scope))
            with django_assert_num_queries(2):  # the snapshot's time, its rows (the ledger's sums are in figures)
                return app_figure(scope, figures, "payments")
    assert cost(3) != cost(40)  # more entries, the same statements
