"""Platform metrics on a data set built row by row with explicit times; every number worked out by hand.

Tenant A (growth tier): orders o1..o4 at `store`, o5 at `store2`. Tenant B: ob at `other_store`.
Check-ins ("job.checked_in" events):
  o1 tech   03-02 10:00 on time,  40 m  | o2 tech   03-02 11:00 late,      60 m
  o3 tech2  03-03 09:00 on time, 500 m (outside) | o5 tech2 03-03 10:00 on time and early, 20 m
  ob b_tech 03-02 12:00 late, 900 m (outside)
Measuring took 1, 2, 3, 4, 10 h (o1..o5) and 100 h (ob), all finished on 03-02.
Design: o1 5 h (no rework), o2 7 h (2 rework rounds).
Breaches: stage_overdue o1, o2 (03-02), approval_overdue o5 (03-03), stage_overdue ob (03-02).
Money: o1 and o2 paid their 1,200.00 booking installments (today); 500.00 of o1's refunded.
The duration percentiles are approximate (insights.histograms): the hand-computed exact ones within 2.5 %.
"""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from insights.histograms import BOUND
from insights.models import SlaBreach
from insights.selectors import platform_metrics
from payments import services as payment_services
from payments.models import Installment
from tests.factories import TechnicianFactory
from tests.factories.insights import finish_stage, make_breach, pay, record_checkin
from tests.factories.workflows import make_order, make_template, stage_of
from workflows.models import Appointment

URL = "/api/v1/platform/metrics/"
H = 3600


def approx(seconds: float):
    """An exact percentile as the metrics give it: within the histograms' stated bound (ADR 0007)."""
    return pytest.approx(seconds, rel=BOUND)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(2026, 3, day, hour, minute))


@pytest.fixture
def data(merchant, store, store2, technician, technician2, consumer, other_merchant, other_store,
         other_technician, store_manager):
    tpl = make_template(merchant=merchant, stores=[store, store2])
    o = [make_order(store=store, consumer=consumer, template=tpl) for _ in range(4)]
    o.append(make_order(store=store2, consumer=consumer, template=tpl))
    ob = make_order(store=other_store, consumer=consumer)

    p1 = pay(Installment.objects.get(order=o[0], stage__definition__code="booking"), consumer)
    pay(Installment.objects.get(order=o[1], stage__definition__code="booking"), consumer)
    payment_services.payment_refund(payment=p1, amount=Decimal("500.00"), actor=store_manager, reason="goodwill")

    for order, tech in ((o[0], technician), (o[1], technician)):
        Appointment.objects.create(order=order, stage=stage_of(order, "measuring"), store=order.store,
                                   technician=tech, window_start=at(2, 9), window_end=at(2, 11))

    record_checkin(order=o[0], technician=technician, at=at(2, 10), on_time=True, distance_m=40)
    record_checkin(order=o[1], technician=technician, at=at(2, 11), on_time=False, distance_m=60)
    record_checkin(order=o[2], technician=technician2, at=at(3, 9), on_time=True, outside_radius=True,
                   distance_m=500)
    record_checkin(order=o[4], technician=technician2, at=at(3, 10), on_time=True, early=True, distance_m=20)
    record_checkin(order=ob, technician=other_technician, at=at(2, 12), on_time=False, outside_radius=True,
                   distance_m=900)

    for order, hours in zip(o + [ob], (1, 2, 3, 4, 10, 100), strict=True):
        finish_stage(order, "measuring", entered_at=at(2, 8) - timedelta(hours=max(hours - 10, 0)),
                     completed_at=at(2, 8) - timedelta(hours=max(hours - 10, 0)) + timedelta(hours=hours))
    finish_stage(o[0], "design", entered_at=at(1, 8), completed_at=at(1, 13))
    finish_stage(o[1], "design", entered_at=at(1, 8), completed_at=at(1, 15), rework_rounds=2)

    make_breach(order=o[0], kind=SlaBreach.Kind.STAGE_OVERDUE, detected_at=at(2, 20))
    make_breach(order=o[1], kind=SlaBreach.Kind.STAGE_OVERDUE, detected_at=at(2, 21))
    make_breach(order=o[4], kind=SlaBreach.Kind.APPROVAL_OVERDUE, detected_at=at(3, 8))
    make_breach(order=ob, kind=SlaBreach.Kind.STAGE_OVERDUE, detected_at=at(2, 22))
    return {"orders": o, "other": ob}


def _by_code(m):
    return {s["stage_code"]: s for s in m["stage_durations"]}


def test_merchant_admin_figures(data, merchant_admin, store, store2):
    m = platform_metrics(user=merchant_admin)

    assert m["orders"] == {"created": 5, "active": 5, "completed": 0, "cancelled": 0}
    assert m["arrivals"] == {"checkins": 4, "on_time": 3, "late": 1, "on_time_rate": 0.75, "early": 1,
                             "early_rate": 0.25, "outside_radius": 1, "outside_radius_rate": 0.25,
                             "low_accuracy": 0, "flagged": 1, "avg_distance_m": 155.0, "duplicate_photos_refused": 0}
    assert m["arrivals_by_day"] == [
        {"date": "2026-03-02", "checkins": 2, "on_time": 1, "on_time_rate": 0.5},
        {"date": "2026-03-03", "checkins": 2, "on_time": 2, "on_time_rate": 1.0},
    ]
    durations = _by_code(m)
    # measuring: 1,2,3,4,10 h. p50 = 3 h; p90 at position 0.9*4 = 3.6: 4 h + 0.6 * (10 - 4) h = 7.6 h.
    assert durations["measuring"] == {"stage_code": "measuring", "count": 5, "avg_seconds": 4.0 * H,
                                      "p50_seconds": approx(3.0 * H), "p90_seconds": approx(7.6 * H),
                                      "avg_work_seconds": 4.0 * H, "avg_waiting_seconds": 0.0}
    # design: 5 h and 7 h. p50 = 6 h, p90 = 5 + 0.9 * 2 = 6.8 h.
    assert durations["design"] == {"stage_code": "design", "count": 2, "avg_seconds": 6.0 * H,
                                   "p50_seconds": approx(6.0 * H), "p90_seconds": approx(6.8 * H),
                                   "avg_work_seconds": 6.0 * H, "avg_waiting_seconds": 0.0}
    assert m["rework"] == {"approval_stages": 2, "stages_reworked": 1, "rounds_total": 2, "rounds_avg": 1.0}
    assert m["sla_breaches"]["total"] == 3
    assert m["sla_breaches"]["by_kind"] == {"stage_overdue": 2, "no_show": 0, "approval_overdue": 1,
                                            "installment_overdue": 0}
    assert m["sla_breaches"]["per_store"] == [
        {"store": store.pk, "store_name": store.name, "breaches": 2},
        {"store": store2.pk, "store_name": store2.name, "breaches": 1},
    ]
    # Outstanding: 5 x 12,000 minus the two paid bookings; due now: the three unpaid bookings.
    # No snapshot taken by the roll-up job yet: read live, as of the request (outstanding_as_of null).
    assert m["payments"] == [{"currency": "CNY", "paid": "2400.00", "refunded": "500.00", "net_paid": "1900.00",
                              "outstanding": "57600.00", "due_now": "3600.00", "outstanding_as_of": None}]


def test_operator_sees_every_merchant(data, operator):
    m = platform_metrics(user=operator)
    assert m["orders"]["created"] == 6
    assert (m["arrivals"]["checkins"], m["arrivals"]["on_time"], m["arrivals"]["on_time_rate"]) == (5, 3, 0.6)
    assert m["arrivals"]["outside_radius"] == 2
    # measuring: 1,2,3,4,10,100 h. p50 at 2.5 -> 3.5 h; p90 at 4.5 -> 10 + 0.5 * 90 = 55 h; mean 20 h.
    assert _by_code(m)["measuring"] == {"stage_code": "measuring", "count": 6, "avg_seconds": 20.0 * H,
                                        "p50_seconds": approx(3.5 * H), "p90_seconds": approx(55.0 * H),
                                        "avg_work_seconds": 20.0 * H, "avg_waiting_seconds": 0.0}
    assert m["sla_breaches"]["total"] == 4


def test_operator_merchant_filter(data, operator, other_merchant):
    m = platform_metrics(user=operator, merchant=other_merchant.pk)
    assert m["orders"]["created"] == 1
    assert m["arrivals"]["checkins"] == 1 and m["arrivals"]["on_time_rate"] == 0.0
    assert _by_code(m)["measuring"]["p50_seconds"] == approx(100.0 * H)


def test_store_manager_sees_its_store_only(data, store_manager):
    m = platform_metrics(user=store_manager)
    assert m["orders"]["created"] == 4
    assert (m["arrivals"]["checkins"], m["arrivals"]["on_time"]) == (3, 2)
    assert m["arrivals"]["on_time_rate"] == 0.6667
    # measuring 1,2,3,4 h: p50 at 1.5 -> 2.5 h; p90 at 2.7 -> 3.7 h.
    assert _by_code(m)["measuring"] == {"stage_code": "measuring", "count": 4, "avg_seconds": 2.5 * H,
                                        "p50_seconds": approx(2.5 * H), "p90_seconds": approx(3.7 * H),
                                        "avg_work_seconds": 2.5 * H, "avg_waiting_seconds": 0.0}
    assert m["sla_breaches"]["by_kind"]["stage_overdue"] == 2
    assert m["sla_breaches"]["by_kind"]["approval_overdue"] == 0


def test_store_and_technician_filters(data, merchant_admin, store2, technician):
    m = platform_metrics(user=merchant_admin, store=store2.pk)
    assert m["orders"]["created"] == 1 and m["arrivals"]["checkins"] == 1
    assert m["sla_breaches"]["total"] == 1

    m = platform_metrics(user=merchant_admin, technician=technician.pk)
    assert m["orders"]["created"] == 2  # the orders with one of its visits
    assert (m["arrivals"]["checkins"], m["arrivals"]["on_time"]) == (2, 1)
    assert _by_code(m)["measuring"]["count"] == 2


def test_period_filter_dates_each_fact(data, client_for, merchant_admin):
    r = client_for(merchant_admin).get(URL, {"from": "2026-03-03", "to": "2026-03-03"})
    assert r.status_code == 200, r.content
    m = r.json()
    assert (m["arrivals"]["checkins"], m["arrivals"]["on_time"]) == (2, 2)
    assert m["stage_durations"] == []  # all finished on 03-02 (or 03-01)
    assert m["sla_breaches"]["total"] == 1
    assert m["payments"][0]["paid"] == "0.00"  # paid today, outside the period
    assert m["payments"][0]["outstanding"] == "57600.00"  # a snapshot: not limited by the period


def test_api_answers_the_same_numbers_as_the_selector(data, client_for, merchant_admin):
    r = client_for(merchant_admin).get(URL)
    assert r.status_code == 200
    assert r.json()["arrivals"]["on_time_rate"] == 0.75
    assert r.json()["payments"][0]["net_paid"] == "1900.00"


@pytest.mark.parametrize("who, status", [
    ("operator", 200), ("merchant_admin", 200), ("store_manager", 200),
    ("technician", 403), ("consumer", 403),
])
def test_roles(data, client_for, request, who, status):
    r = client_for(request.getfixturevalue(who)).get(URL)
    assert r.status_code == status, r.content
    if status == 403:
        assert r.json()["code"] == "permission_denied"


def test_anonymous_is_refused(anon_client):
    assert anon_client.get(URL).status_code in (401, 403)


@pytest.mark.parametrize("who, param, target", [
    ("merchant_admin", "merchant", "other_merchant"),
    ("merchant_admin", "store", "other_store"),
    ("merchant_admin", "technician", "other_technician"),
    ("store_manager", "store", "store2"),
    ("other_admin", "merchant", "merchant"),
])
def test_foreign_filters_answer_404(data, client_for, request, who, param, target):
    r = client_for(request.getfixturevalue(who)).get(URL, {param: request.getfixturevalue(target).pk})
    assert r.status_code == 404, r.content


@pytest.mark.parametrize("params", [
    {"merchant": "abc"}, {"store": "-1"}, {"from": "yesterday"}, {"from": "2026-13-45"},
    {"from": "2026-03-05", "to": "2026-03-01"}, {"technician": "99999999999999999999"},
    # Python's datetime overflowed at both ends (a 500): a day added to 9999-12-31, a time zone applied to 0001-01-01.
    {"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "9999-12-31T23:59:59-12:00"},
    {"to": "0001-01-01T00:00:00+14:00"},
])
def test_bad_filters_answer_400(client_for, operator, params):
    r = client_for(operator).get(URL, params)
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "invalid"


def test_empty_filters_read_as_absent_as_the_schema_says(data, client_for, merchant_admin):
    """`?store=` is no store filter (as on the lists), and the published schema admits the empty value (the
    fuzzer's `?store=` answered 200 where the schema demanded an integer)."""
    from drf_spectacular.generators import SchemaGenerator

    client = client_for(merchant_admin)
    empty = client.get(URL, {"merchant": "", "store": "", "technician": "", "from": "", "to": ""})
    assert empty.status_code == 200
    assert empty.json() == client.get(URL).json()
    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][URL]["get"]
    for parameter in operation["parameters"]:
        assert {"type": "string", "maxLength": 0} in parameter["schema"].get("anyOf", []) \
            or parameter["schema"] == {"type": "string"}, parameter["name"]


def test_unknown_merchant_for_operator_is_404(client_for, operator):
    assert client_for(operator).get(URL, {"merchant": 987654}).status_code == 404


@pytest.mark.usefixtures("english")
def test_basic_tier_gets_tier_limit(client_for, merchant, merchant_admin, store_manager):
    merchant.tier = "basic"
    merchant.save()
    for user in (merchant_admin, store_manager):
        r = client_for(user).get(URL)
        assert r.status_code == 403
        body = r.json()
        assert body["code"] == "tier_limit" and body["capability"] == "metrics"
        assert "Basic tier does not include the metrics API and dashboard" in body["detail"]


def test_empty_data_set(client_for, merchant_admin):
    m = client_for(merchant_admin).get(URL).json()
    assert m["arrivals"]["on_time_rate"] is None and m["stage_durations"] == [] and m["payments"] == []
    assert m["sla_breaches"]["total"] == 0


def test_query_count_does_not_depend_on_rows(data, client_for, operator, django_assert_max_num_queries):
    """Aggregates only: the count depends on the number of stage codes (SQLite percentiles), not on rows (21: the
    money owed looks for the roll-up job's snapshot first, payments.rollup)."""
    client = client_for(operator)
    with django_assert_max_num_queries(21):
        assert client.get(URL).status_code == 200


def test_second_technician_is_visible_to_its_merchant(data, merchant_admin, store2):
    tech = TechnicianFactory(stores=[store2])
    m = platform_metrics(user=merchant_admin, technician=tech.pk)
    assert m["orders"]["created"] == 0
