"""Statement budgets of the three hot paths (issue 22, target 2): a technician's check-in, a stage transition
(start, complete, approve) and a built order detail, each sending the same number of statements for a small and a
big order.

Counted as django_assert_max_num_queries counts: every statement, the transaction's two ends included (in a test
the request's BEGIN/COMMIT become a SAVEPOINT/RELEASE pair inside the test's transaction: the same number), for a
client whose token's look-up is in the cache (core.authentication; a client's first request reads the token too: one
more). BUDGET is today's count, a guard against regressions; each is within the issue's target (TARGET; the
record: docs/performance.md, "Statement budgets").

Small: the reference wardrobe (5 stages, 4 installments) with its ordinary history. Big: the same workflow with
20 more paid stages (25 stages, 24 installments) and 20 more events (its measuring visit handed between two
technicians ten times and back).
"""

import copy
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from demo.builder import Driver
from tests.factories.fieldwork import starting_soon
from tests.factories.workflows import make_order, make_template
from tests.fieldwork.helpers import check_in_body, job_url
from workflows import engine
from workflows import services as wf
from workflows.events import forget_tails
from workflows.models import Appointment, OrderEvent
from workflows.reference import CUSTOM_WARDROBE

pytestmark = pytest.mark.django_db

# The design's approval makes two installments due (its own 'after' one and the installation's 'before' one): two
# more events, each with its chain-tail read and a notification, and the installments locked and read again.
# The built detail reads the brand's payment accounts too (the channels it offers: payments' section), 9 -> 10.
# check-in 17: one more since the stage's SLA clock reads the store's own SLA hours when it starts (issue 20,
# the brand's bounds on store values: workflows.store_values).
# The built detail 10 -> 6: the token from the cache, the version read with the order row, the brand's payment
# accounts annotated on it (payments' annotate), the visits read with the stages.
# The event chain's tail kept for the transaction (workflows.events.remember_tail): only a transaction's first event
# reads it: check-in 16 -> 15, approve 21 -> 19.
# Branch wt-checkin, the check-in 15 -> 10: the chain's tail kept on the order row by a trigger and read with the
# engine's lock (workflows.chain_tail): no tail read at all, -1 (check-in 14, start 7 -> 6, complete 8 -> 7, approve
# 19 -> 18); the visit locked with its order in one statement that also does the job's checks and the replay lookup
# (engine.lock_order_with), the job read before the transaction gone, -2 (12); job.checked_in written with
# stage.start in one INSERT (workflows.events.written_together), -1 (11); the store's SLA values from the cache
# (workflows.store_values), -1 (10).

# The approve (issue 22, branch wt-approve): the two stages' updates in one statement (approve, plain 10 -> 9); the
# installments a step makes due in one UPDATE with one `installment.due` event and one message, the stages not read
# again for them, the unblock guard answered from the installments just locked (approve 19 -> 12).
# Both merged: the tail with the lock takes one more from each approve (12 -> 11, plain 9 -> 8).
# Branch wt-approve2, the approve 11 -> 9: the engine's stage.approve written with the installment.due its effect
# records in one INSERT (workflows.events.written_together around each step's effects), -1; the installments that
# gate the stage read with the engine's read of the stages (a LEFT JOIN per timing: workflows.hooks.register_stage_row,
# payments.services.allocation.STAGE_ROWS) instead of their own locked read, -1 (the plain approve stays 8).
# The approve 9 -> 8 (plain 8 -> 7, issue 22's last gap): a step that may leave its stage (complete, approve, cancel)
# locks the order with all its stages in one statement (workflows.order_lock.lock_order_and_stages: the stages'
# rows with the order joined, `FOR UPDATE OF` the order; read again only after a wait that changed them).
BUDGET = {"check-in": 10, "start": 6, "complete": 7, "approve": 8, "approve, plain": 7, "detail": 6}
# The targets (issue 22, target 2): the budget test fails on a count above BUDGET, so above these too.
TARGET = {"check-in": 10, "start": 8, "complete": 8, "approve": 8, "approve, plain": 8, "detail": 6}
EXTRA_STAGES, HANDOVERS = 20, 10


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def big_wardrobe() -> dict:
    """The wardrobe with EXTRA_STAGES plain stages paid 2 % each after installation (whose share drops from 50 to
    10 %), so the stages around the measuring visit and the design are those of the small one."""
    data = copy.deepcopy(CUSTOM_WARDROBE)
    data["name"] = "Custom wardrobe, many stages"
    stages = data["stages"]
    at = next(i for i, s in enumerate(stages) if s["code"] == "installation")
    stages[at]["payment_share"] = Decimal("10")
    extra = [{"code": f"fitting{i}", "name": f"Fitting {i}", "payment_share": Decimal("2"),
              "payment_timing": "after"} for i in range(1, EXTRA_STAGES + 1)]
    data["stages"] = stages[:at + 1] + extra + stages[at + 1:]
    return data


@pytest.fixture
def people(store, consumer, store_manager, technician, technician2):
    return {"store": store, "consumer": consumer, "manager": store_manager, "technician": technician,
            "technician2": technician2}


def drive(people, *, big: bool, to: str):
    """An order of the small or big workflow, moved by its people to `to`; the big one's visit changes hands
    2 x HANDOVERS times while it is booked."""
    store = people["store"]
    definition = big_wardrobe() if big else CUSTOM_WARDROBE
    template = make_template(merchant=store.merchant, stores=[store], definition=definition)
    order = make_order(store=store, consumer=people["consumer"], template=template, actor=people["manager"])
    driver = Driver(order=order, manager=people["manager"], technician=people["technician"])
    driver.run_to("measuring:scheduled")
    if big:
        visit = Appointment.objects.get(order=order, state="booked")
        for _ in range(HANDOVERS):
            for tech in (people["technician2"], people["technician"]):
                visit = wf.appointment_assign(appointment=visit, technician=tech, actor=people["manager"])
    if to != "measuring:scheduled":
        driver.run_to(to)
    return order


def sizes(order) -> tuple[int, int, int]:
    return order.stages.count(), order.installments.count(), OrderEvent.objects.filter(order=order).count()


def count(fn) -> int:
    """The statements of `fn`, run as the first thing of its transaction would be (the whole test is one: the chain
    tails remembered by the steps before are forgotten, as their own transactions' ends would)."""
    forget_tails()
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_the_big_order_is_bigger(people):
    small, big = (drive(people, big=b, to="design:ready") for b in (False, True))
    (s_stages, s_inst, s_events), (b_stages, b_inst, b_events) = sizes(small), sizes(big)
    assert (s_stages, b_stages) == (5, 5 + EXTRA_STAGES)
    assert b_inst == s_inst + EXTRA_STAGES
    assert b_events >= s_events + 2 * HANDOVERS


def test_a_check_in_costs_the_same_statements_for_a_small_and_a_big_order(people, client_for,
                                                                          django_assert_max_num_queries):
    tech = _warm(client_for(people["technician"]))
    counts = []
    for big in (False, True):
        visit = Appointment.objects.get(order=drive(people, big=big, to="measuring:scheduled"), state="booked")
        starting_soon(visit)  # the demo parks the second one two hours on (its technician has the first one then)
        assert visit.technician_id == people["technician"].pk
        body = check_in_body(visit.order)
        with django_assert_max_num_queries(BUDGET["check-in"]):
            counts.append(count(lambda v=visit, b=body: _expect(tech.post(job_url(v, "check-in"), b), 201)))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("trigger", ["start", "complete", "approve"])
def test_a_stage_transition_costs_the_same_statements_for_a_small_and_a_big_order(
        people, trigger, django_assert_max_num_queries):
    actor = people["consumer"] if trigger == "approve" else people["manager"]
    before = {"start": [], "complete": ["start"], "approve": ["start", "complete"]}[trigger]
    counts = []
    for big in (False, True):
        order = drive(people, big=big, to="design:ready")
        for step in before:
            engine.fire(order_id=order.pk, trigger=step, actor=people["manager"])
        with django_assert_max_num_queries(BUDGET[trigger]):
            counts.append(count(lambda o=order: engine.fire(order_id=o.pk, trigger=trigger, actor=actor)))
        order.refresh_from_db()
        assert order.state == {"start": "design:in_progress", "complete": "design:awaiting_approval",
                               "approve": "installation:waiting_payment"}[trigger]
    assert counts[0] == counts[1], counts


def plain_workflow(*, big: bool) -> dict:
    """Four stages, the design approved into a plain one (no visit, no installment falls due); paid at the end. The
    big one has EXTRA_STAGES more paid stages after it (2 % each), so 24 stages and 21 installments."""
    extra = [{"code": f"fitting{i}", "name": f"Fitting {i}", "payment_share": Decimal("2"), "payment_timing": "after"}
             for i in range(1, EXTRA_STAGES + 1)] if big else []
    return {"name": "Plain approval" + (", many stages" if big else ""), "stages": [
        {"code": "brief", "name": "Brief"},
        {"code": "design", "name": "Design", "requires_approval": True, "max_rework_rounds": 2},
        {"code": "build", "name": "Build", "checklist": ["Frame assembled"]},  # work to do: not passive
        *extra,
        {"code": "handover", "name": "Handover", "payment_share": Decimal(100 - 2 * len(extra)),
         "payment_timing": "after"},
    ]}


def test_a_plain_approve_costs_the_same_statements_for_a_small_and_a_big_order(people,
                                                                             django_assert_max_num_queries):
    """The approve whose next stage waits for nothing: the stages move, one event, the consumer told."""
    store, manager = people["store"], people["manager"]
    counts = []
    for big in (False, True):
        template = make_template(merchant=store.merchant, stores=[store], definition=plain_workflow(big=big))
        order = make_order(store=store, consumer=people["consumer"], template=template, actor=manager)
        while order.state != "design:awaiting_approval":  # the brief and the design worked on and handed in
            step = "complete" if order.state.endswith(":in_progress") else "start"
            order = engine.fire(order_id=order.pk, trigger=step, actor=manager).order
        with django_assert_max_num_queries(BUDGET["approve, plain"]):
            counts.append(count(lambda o=order: engine.fire(order_id=o.pk, trigger="approve",
                                                            actor=people["consumer"])))
        order.refresh_from_db()
        assert order.state == "build:ready"
        assert not order.installments.filter(state="due").exists()
    assert counts[0] == counts[1], counts


def test_a_built_order_detail_costs_the_same_statements_for_a_small_and_a_big_order(
        people, client_for, settings, django_assert_max_num_queries):
    settings.ORDER_DETAIL_CACHE_SECONDS = 0  # built from the database every time
    api = _warm(client_for(people["consumer"]))
    counts = []
    for big in (False, True):
        order = drive(people, big=big, to="design:awaiting_approval")
        with django_assert_max_num_queries(BUDGET["detail"]):
            counts.append(count(lambda o=order: _expect(api.get(f"/api/v1/orders/{o.pk}/"), 200)))
        body = api.get(f"/api/v1/orders/{order.pk}/").json()
        assert len(body["stages"]) == order.stages.count() and len(body["installments"]) == order.installments.count()
    assert counts[0] == counts[1], counts


def _warm(client):
    """The client's token looked up once, so its look-up is in the cache as for a client already in use."""
    _expect(client.get("/api/v1/orders/"), 200)
    return client


def _expect(response, status):
    assert response.status_code == status, response.content
    return response
