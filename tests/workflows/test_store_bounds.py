"""What stores may change is the brand's choice (二次开发, bounded): the brand opens knobs per template with bounds,
a store sets its values within them (refused past a bound, with the bound in the message, in the API and the
admin), orders at that store use the store's values, and the merchant's tier still gates it all."""

import copy
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from fieldwork import selectors as fieldwork_selectors
from fieldwork.plugin import guard_checklist
from tenancy.tiers import TierLimit
from tests.factories.payments import pay_due_installments
from tests.factories.workflows import make_order, make_template, stage_of
from workflows import services
from workflows.models import Appointment, TemplateDistribution
from workflows.reference import CUSTOM_WARDROBE

OPEN = {"appointment_open": True, "appointment_min_minutes": 60, "appointment_max_minutes": 180,
        "sla_open": True, "reminder_open": True, "reminder_min_hours": 2, "reminder_max_hours": 48,
        "checklist_open": True, "checklist_max_items": 2}


@pytest.fixture
def dist(merchant, store):
    template = make_template(merchant=merchant, stores=[store])
    services.store_bounds_set(template=template, **OPEN)
    return TemplateDistribution.objects.get(template=template, store=store)


def refusal(dist, **values) -> str:
    with pytest.raises(DomainError) as caught:
        services.store_overrides_set(distribution=dist, **values)
    assert caught.value.code == "invalid"
    return str(caught.value.detail)


@pytest.mark.usefixtures("english")
def test_each_bound_is_refused_with_the_bound_in_the_message(dist):
    assert "must be 60 to 180 minutes" in refusal(dist, appointment_minutes={"measuring": 45})
    assert "must be 60 to 180 minutes" in refusal(dist, appointment_minutes={"measuring": 200})
    assert "No stage 'design'" in refusal(dist, appointment_minutes={"design": 90})  # not an on-site stage
    assert "must be 2 to 48 hours" in refusal(dist, reminder_lead_hours=1)
    assert "At most 2 extra checklist items" in refusal(dist, extra_checklist={"measuring": ["a", "b", "c"]})
    assert "repeat an item" in refusal(dist, extra_checklist={"measuring": ["Walls measured"]})
    dist.refresh_from_db()
    assert dist.appointment_minutes_overrides == {} and dist.reminder_lead_hours is None  # nothing was saved


@pytest.mark.usefixtures("english")
def test_sla_hours_may_only_be_tightened(dist):
    assert "may only be tightened: 1 to 72 hours" in refusal(dist, sla_hours={"measuring": 73})
    services.store_overrides_set(distribution=dist, sla_hours={"measuring": 24, "booking": 48})
    dist.refresh_from_db()
    assert dist.sla_hours_overrides == {"measuring": 24, "booking": 48}


@pytest.mark.usefixtures("english")
def test_a_closed_knob_is_refused_and_bounds_must_make_sense(dist):
    services.store_bounds_set(template=dist.template, checklist_open=False)
    assert "does not let its stores change this" in refusal(dist, extra_checklist={"measuring": ["Meter photo"]})
    with pytest.raises(DomainError, match="the shortest no longer than the longest"):
        services.store_bounds_set(template=dist.template, appointment_min_minutes=200)


@pytest.mark.usefixtures("english")
def test_tiers_still_gate_what_a_brand_may_offer(merchant, store):
    data = copy.deepcopy(CUSTOM_WARDROBE)
    for stage in data["stages"]:
        stage["max_rework_rounds"] = 0  # the basic tier has no rework loops
    merchant.tier = "basic"
    merchant.save()
    template = make_template(merchant=merchant, stores=[store], definition=data)
    with pytest.raises(TierLimit, match="store-level adjustments"):
        services.store_bounds_set(template=template, appointment_open=True)
    services.store_bounds_set(template=template, appointment_open=False)  # closing is always allowed
    dist = TemplateDistribution.objects.get(template=template)
    with pytest.raises(TierLimit):
        services.store_overrides_set(distribution=dist, appointment_minutes={})


def test_orders_use_the_stores_values(dist, store, consumer, technician):
    services.store_overrides_set(distribution=dist, appointment_minutes={"measuring": 150},
                                 sla_hours={"booking": 12}, extra_checklist={"measuring": ["Meter photographed"]})
    order = make_order(store=store, consumer=consumer, template=dist.template)
    measuring = stage_of(order, "measuring")
    slots = services.appointment_slots(stage=measuring)
    assert slots and {s.end - s.start for s in slots} == {timedelta(minutes=150)}
    booking = stage_of(order, "booking")
    pay_due_installments(order)
    booking.refresh_from_db()
    assert booking.sla_due_at is not None
    assert booking.sla_due_at - booking.entered_at <= timedelta(hours=12, minutes=1)
    assert fieldwork_selectors.stage_checklist(stage=measuring) == [
        "Walls measured", "Floor level checked", "Power sockets marked", "Meter photographed"]


def test_the_extra_checklist_item_must_be_ticked(dist, store, consumer, technician, store_manager):
    from tests.factories.fieldwork import book_visit

    services.store_overrides_set(distribution=dist, extra_checklist={"measuring": ["Meter photographed"]})
    order = make_order(store=store, consumer=consumer, template=dist.template)
    pay_due_installments(order)
    visit = book_visit(order=order, code="measuring", consumer=consumer, technician=technician,
                       manager=store_manager)
    stage = visit.stage
    state = fieldwork_selectors.stage_checklist_state(stage=stage)
    assert state == {"Walls measured": False, "Floor level checked": False, "Power sockets marked": False,
                     "Meter photographed": False}
    assert "Meter photographed" in guard_checklist(order, stage)


def test_a_downgraded_tier_or_a_tightened_bound_puts_stores_back_on_the_templates_values(dist, store, consumer):
    services.store_overrides_set(distribution=dist, appointment_minutes={"measuring": 150})
    services.store_bounds_set(template=dist.template, appointment_max_minutes=120)
    order = make_order(store=store, consumer=consumer, template=dist.template)
    assert services.appointment_minutes_for(stage_of(order, "measuring")) == 90  # the template's
    services.store_bounds_set(template=dist.template, appointment_max_minutes=180)
    dist.template.merchant.tier = "basic"
    dist.template.merchant.save()
    order = make_order(store=store, consumer=consumer, template=dist.template)
    assert services.appointment_minutes_for(stage_of(order, "measuring")) == 90


def test_the_reminder_goes_out_at_the_stores_lead_time(dist, store, consumer, technician, store_manager):
    from notifications.services import visit_reminders_create

    order = make_order(store=store, consumer=consumer, template=dist.template)
    pay_due_installments(order)
    slot = next(s for s in services.appointment_slots(stage=stage_of(order, "measuring"))
                if s.start > timezone.now() + timedelta(hours=30))
    appt = services.appointment_book(stage=stage_of(order, "measuring"), window_start=slot.start, actor=consumer)
    Appointment.objects.filter(pk=appt.pk).update(created_at=timezone.now() - timedelta(days=3))
    now = slot.start - timedelta(hours=30)  # 30 hours before: past a 48-hour lead, not yet at 24
    assert visit_reminders_create(now=now) == 0
    services.store_overrides_set(distribution=dist, reminder_lead_hours=48)
    assert visit_reminders_create(now=now) > 0


@pytest.mark.usefixtures("english")
def test_api_per_role(dist, client_for, store_manager, merchant_admin, technician, consumer, other_admin,
                      other_store_manager, operator):
    url = f"/api/v1/stores/{dist.store_id}/overrides/{dist.template_id}/"
    manager = client_for(store_manager)
    got = manager.get(url)
    assert got.status_code == 200 and got.json()["bounds"]["appointment_max_minutes"] == 180
    bad = manager.put(url, {"appointment_minutes": {"measuring": 200}}, format="json")
    assert bad.status_code == 400 and "60 to 180 minutes" in bad.json()["detail"]
    assert "appointment_minutes" in bad.json()["errors"]
    ok = manager.put(url, {"appointment_minutes": {"measuring": 120}, "reminder_lead_hours": 6,
                           "extra_checklist": {"measuring": ["Meter photographed"]}}, format="json")
    assert ok.status_code == 200 and ok.json()["appointment_minutes"] == {"measuring": 120}
    assert client_for(merchant_admin).put(url, {"sla_hours": {"measuring": 48}}, format="json").status_code == 200
    for outsider in (technician, consumer, other_admin, other_store_manager):
        assert client_for(outsider).get(url).status_code == 404
        assert client_for(outsider).put(url, {}, format="json").status_code == 404
    assert client_for(operator).get(url).status_code == 200
    assert client_for(operator).put(url, {}, format="json").status_code == 403


@pytest.mark.usefixtures("english")
def test_the_admin_form_refuses_a_value_past_the_bound_in_its_field(dist, store_manager):
    web = Client()
    web.force_login(store_manager)
    url = reverse("admin:workflows_templatedistribution_change", args=[dist.pk])
    page = web.get(url).content.decode()
    assert "Appointment length of &#x27;Measuring on site&#x27; (minutes)" in page
    assert "Your brand allows 60 to 180." in page
    bad = web.post(url, {"appointment_minutes__measuring": "240", "sla_hours__measuring": "80"})
    html = bad.content.decode()
    assert bad.status_code == 200
    assert "must be 60 to 180 minutes" in html and "may only be tightened: 1 to 72 hours" in html
    web.post(url, {"appointment_minutes__measuring": "120", "extra_checklist__measuring": "Meter photographed\n\n"})
    dist.refresh_from_db()
    assert dist.appointment_minutes_overrides == {"measuring": 120}
    assert dist.extra_checklist == {"measuring": ["Meter photographed"]}


@pytest.mark.usefixtures("english")
def test_the_brand_sets_its_bounds_through_the_template_api(dist, client_for, merchant_admin, store_manager):
    url = f"/api/v1/templates/{dist.template_id}/store-bounds/"
    admin = client_for(merchant_admin)
    assert admin.get(url).json()["appointment_max_minutes"] == 180
    bad = admin.put(url, {"reminder_min_hours": 50}, format="json")  # above the longest (48)
    assert bad.status_code == 400 and "the shortest no longer than the longest" in bad.json()["detail"]
    ok = admin.put(url, {"sla_open": False, "appointment_max_minutes": 120}, format="json")
    assert ok.status_code == 200 and ok.json()["sla_open"] is False and ok.json()["appointment_max_minutes"] == 120
    assert client_for(store_manager).put(url, {"sla_open": True}, format="json").status_code == 403


def test_lengths_stores_set_before_bounds_existed_are_kept_by_the_migration(merchant, store, consumer):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("workflows.migrations.0009_store_bounds")
    template = make_template(merchant=merchant, stores=[store])
    TemplateDistribution.objects.filter(template=template).update(appointment_minutes_overrides={"measuring": 100})
    migration.open_appointment_lengths_where_stores_set_them(apps, None)
    bounds = services.store_bounds_of(template)
    assert (bounds.appointment_open, bounds.appointment_min_minutes, bounds.appointment_max_minutes) == (True, 15, 720)
    assert not (bounds.sla_open or bounds.reminder_open or bounds.checklist_open)
    order = make_order(store=store, consumer=consumer, template=template)
    assert services.appointment_minutes_for(stage_of(order, "measuring")) == 100


def _values_reads(order) -> tuple[int, int]:
    """(SQL statements, the measuring visit's length) of reading the order's store values on a fresh instance."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from workflows.models import ServiceOrder
    from workflows.store_values import order_store_values

    fresh = ServiceOrder.objects.get(pk=order.pk)
    measuring = stage_of(order, "measuring").definition
    with CaptureQueriesContext(connection) as ctx:
        minutes = order_store_values(fresh).appointment_minutes_of(measuring)
    return len(ctx.captured_queries), minutes


def test_an_orders_store_values_are_kept_until_a_distribution_bounds_or_tier_changes(dist, store, consumer):
    order = make_order(store=store, consumer=consumer, template=dist.template)
    services.store_overrides_set(distribution=dist, appointment_minutes={"measuring": 150})
    assert _values_reads(order) == (1, 150)
    assert _values_reads(order) == (0, 150)  # kept: a check-in starting the clock reads no row for them
    services.store_overrides_set(distribution=dist, appointment_minutes={"measuring": 120})
    assert _values_reads(order) == (1, 120)  # the distribution changed
    services.store_bounds_set(template=dist.template, appointment_max_minutes=100)
    assert _values_reads(order) == (1, 90)  # the bound moved: the template's again
    services.store_bounds_set(template=dist.template, appointment_max_minutes=180)
    assert _values_reads(order) == (1, 120)
    dist.template.merchant.tier = "basic"
    dist.template.merchant.save()
    assert _values_reads(order) == (1, 90)  # the tier no longer allows store values


def test_without_a_shared_cache_store_values_are_read_each_time(dist, store, consumer, settings):
    settings.STORE_VALUES_CACHE_IN_PROCESS = False  # the in-process default cache: another worker would not hear
    order = make_order(store=store, consumer=consumer, template=dist.template)
    assert _values_reads(order) == (1, 90)
    assert _values_reads(order) == (1, 90)
