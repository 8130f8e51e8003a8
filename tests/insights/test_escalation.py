"""SLA escalation in levels (issue 21, point 5): the store at the breach, the brand's admins after the brand's delay,
the platform's operators after the platform's further delay; each level once; a resolved breach goes no further;
another brand's admins never hear of it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from insights.escalation import escalation_scan
from insights.models import EscalationSetting, SlaBreach
from insights.sla import sla_scan
from notifications.models import Notification
from payments.models import Installment
from tests.factories import MerchantAdminFactory, OperatorFactory
from tests.factories.insights import make_breach
from tests.factories.workflows import make_order, stage_of
from workflows.models import Appointment, OrderEvent, StageInstance

pytestmark = pytest.mark.django_db
Kind = SlaBreach.Kind
S = StageInstance.State
H = timedelta(hours=1)
NOTHING = {"brand": 0, "platform": 0, "resolved": 0}


@pytest.fixture(autouse=True)
def _delays(settings):
    settings.INSIGHTS_ESCALATE_BRAND_AFTER_HOURS = 4
    settings.INSIGHTS_ESCALATE_PLATFORM_AFTER_HOURS = 24


@pytest.fixture
def order(store, consumer):
    return make_order(store=store, consumer=consumer)


def _overdue(order, code="design", *, now, by=H):
    StageInstance.objects.filter(order=order, definition__code=code).update(state=S.IN_PROGRESS,
                                                                            sla_due_at=now - by)
    return stage_of(order, code)


def _breach(order, now):
    _overdue(order, now=now)
    assert sla_scan(now=now)[Kind.STAGE_OVERDUE] >= 1
    return SlaBreach.objects.get(order=order, kind=Kind.STAGE_OVERDUE)


def _told(kind):
    return {(n.recipient_id, n.channel) for n in Notification.objects.filter(kind=kind)}


def test_brand_then_platform_each_once_and_only_their_people(order, store_manager, merchant_admin, operator,
                                                             other_admin, other_store_manager):
    now = timezone.now()
    breach = _breach(order, now)
    assert _told("sla.breached") == {(store_manager.pk, Notification.Channel.EMAIL)}

    assert escalation_scan(now=now + 4 * H - timedelta(seconds=1)) == NOTHING  # the brand's delay not yet over
    assert escalation_scan(now=now + 4 * H) == {**NOTHING, "brand": 1}
    breach.refresh_from_db()
    assert (breach.brand_escalated_at, breach.platform_escalated_at, breach.escalation_level) == (
        now + 4 * H, None, SlaBreach.Level.BRAND)
    [event] = OrderEvent.objects.filter(order=order, kind="breach.escalated_to_brand")
    assert event.payload["breach_id"] == breach.pk and event.payload["hours"] == 4
    assert event.stage_id == breach.stage_id
    assert _told("sla.escalated_brand") == {(merchant_admin.pk, Notification.Channel.EMAIL)}

    assert escalation_scan(now=now + 5 * H) == NOTHING  # once: a second run sends nothing
    assert escalation_scan(now=now + 28 * H - timedelta(seconds=1)) == NOTHING  # 24 h after the brand: not yet
    assert escalation_scan(now=now + 28 * H) == {**NOTHING, "platform": 1}
    breach.refresh_from_db()
    assert breach.platform_escalated_at == now + 28 * H and breach.escalation_level == SlaBreach.Level.PLATFORM
    assert _told("sla.escalated_platform") == {(operator.pk, Notification.Channel.EMAIL)}
    assert escalation_scan(now=now + 60 * H) == NOTHING
    assert OrderEvent.objects.filter(order=order, kind__startswith="breach.escalated").count() == 2
    assert not Notification.objects.filter(recipient__in=[other_admin, other_store_manager]).exists()


def test_the_messages_name_the_order_and_store_in_chinese_without_the_consumers_link(order, merchant_admin,
                                                                                     operator):
    now = timezone.now()
    _breach(order, now)
    escalation_scan(now=now + 4 * H)
    escalation_scan(now=now + 28 * H)
    brand = Notification.objects.get(kind="sla.escalated_brand")
    platform = Notification.objects.get(kind="sla.escalated_platform")
    assert order.number in brand.body and order.store.name in brand.body and "4" in brand.body
    assert "升级" in brand.subject and "超时" in brand.body and "品牌" in platform.body
    assert "/track/" not in brand.body + platform.body
    assert "link" not in brand.params or not brand.params["link"]


def test_each_brand_its_own_delay(order, store, consumer, other_store, other_consumer, other_admin, merchant):
    EscalationSetting.objects.create(merchant=merchant, brand_after_hours=1)
    now = timezone.now()
    mine = _breach(order, now)
    theirs = _breach(make_order(store=other_store, consumer=other_consumer), now)
    assert escalation_scan(now=now + 1 * H) == {**NOTHING, "brand": 1}
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.brand_escalated_at == now + 1 * H and theirs.brand_escalated_at is None
    assert escalation_scan(now=now + 4 * H) == {**NOTHING, "brand": 1}  # the other brand: the platform's default
    theirs.refresh_from_db()
    assert theirs.brand_escalated_at == now + 4 * H
    assert _told("sla.escalated_brand") == {(other_admin.pk, Notification.Channel.EMAIL)}  # nobody at A's brand


def test_a_resolved_breach_goes_no_further(order, merchant_admin):
    now = timezone.now()
    breach = _breach(order, now)
    StageInstance.objects.filter(pk=breach.stage_id).update(state=S.DONE)
    assert escalation_scan(now=now + 4 * H) == {**NOTHING, "resolved": 1}
    breach.refresh_from_db()
    assert breach.resolved_at == now + 4 * H and breach.brand_escalated_at is None
    StageInstance.objects.filter(pk=breach.stage_id).update(state=S.IN_PROGRESS)  # even if it ran late again
    assert escalation_scan(now=now + 40 * H) == NOTHING
    assert not OrderEvent.objects.filter(kind__startswith="breach.escalated").exists()
    assert not Notification.objects.filter(kind__startswith="sla.escalated").exists()


def test_resolved_after_the_brand_heard_never_reaches_the_platform(order, merchant_admin, operator, store_manager):
    from workflows import services as wf

    now = timezone.now()
    breach = _breach(order, now)
    escalation_scan(now=now + 4 * H)
    wf.order_cancel(order=order, actor=store_manager, reason="changed plans")
    assert escalation_scan(now=now + 28 * H) == {**NOTHING, "resolved": 1}
    breach.refresh_from_db()
    assert breach.platform_escalated_at is None and breach.resolved_at is not None
    assert not Notification.objects.filter(kind="sla.escalated_platform").exists()


def test_a_clock_stopped_or_moved_on_waits_and_escalates_once_overdue_again(order, merchant_admin):
    now = timezone.now()
    breach = _breach(order, now)
    StageInstance.objects.filter(pk=breach.stage_id).update(sla_paused_at=now + H)  # the consumer's turn
    assert escalation_scan(now=now + 5 * H) == NOTHING
    # the pause ended: the due time moved 10 hours on, past the scan's "now"
    StageInstance.objects.filter(pk=breach.stage_id).update(sla_paused_at=None, sla_due_at=now + 9 * H)
    assert escalation_scan(now=now + 6 * H) == NOTHING
    breach.refresh_from_db()
    assert breach.resolved_at is None and breach.brand_escalated_at is None
    assert escalation_scan(now=now + 10 * H) == {**NOTHING, "brand": 1}


@pytest.mark.parametrize("kind, resolve, resolved", [
    (Kind.APPROVAL_OVERDUE, {"state": S.AWAITING_APPROVAL}, False),
    (Kind.APPROVAL_OVERDUE, {"state": S.IN_PROGRESS}, True),  # approved or rejected: the wait is over
    (Kind.NO_SHOW, None, False),
    (Kind.NO_SHOW, "rebooked", True),
    (Kind.INSTALLMENT_OVERDUE, Installment.State.DUE, False),
    (Kind.INSTALLMENT_OVERDUE, Installment.State.PAID, True),
])
def test_unresolved_per_kind(order, technician, merchant_admin, kind, resolve, resolved):
    now = timezone.now()
    stage = stage_of(order, "design" if kind == Kind.APPROVAL_OVERDUE else "measuring")
    extra = {}
    if kind == Kind.APPROVAL_OVERDUE:
        StageInstance.objects.filter(pk=stage.pk).update(**resolve)
    elif kind == Kind.NO_SHOW:
        StageInstance.objects.filter(pk=stage.pk).update(state=S.SCHEDULED)
        missed = Appointment.objects.create(order=order, stage=stage, store=order.store, technician=technician,
                                            window_start=now - 3 * H, window_end=now - 2 * H)
        extra["appointment"] = missed
        if resolve == "rebooked":
            Appointment.objects.create(order=order, stage=stage, store=order.store, technician=technician,
                                       window_start=now + 20 * H, window_end=now + 22 * H)
    else:
        installment = Installment.objects.filter(order=order).order_by("pk").first()
        Installment.objects.filter(pk=installment.pk).update(state=resolve)
        extra["installment_id"] = installment.pk
    breach = make_breach(order=order, kind=kind, detected_at=now, stage=stage, **extra)
    assert escalation_scan(now=now + 4 * H) == {**NOTHING, **({"resolved": 1} if resolved else {"brand": 1})}
    breach.refresh_from_db()
    assert (breach.resolved_at is not None, breach.brand_escalated_at is not None) == (resolved, not resolved)


def test_the_walk_leaves_escalated_and_resolved_breaches_out(store, consumer, order, django_assert_max_num_queries):
    """With nothing due, a run is a fixed handful of queries whatever the history (escalated and resolved breaches
    are outside both partial indexes' walks)."""
    now = timezone.now()
    for o in [order] + [make_order(store=store, consumer=consumer) for _ in range(4)]:
        _breach(o, now)
    StageInstance.objects.filter(order=order).update(state=S.DONE)
    escalation_scan(now=now + 4 * H)
    escalation_scan(now=now + 28 * H)
    assert SlaBreach.objects.filter(platform_escalated_at__isnull=False).count() == 4
    with django_assert_max_num_queries(3):  # the brands' delays, one empty walk per level
        assert escalation_scan(now=now + 60 * H) == NOTHING


def test_the_beat_runs_the_scan(settings):
    from insights import tasks

    assert settings.CELERY_BEAT_SCHEDULE["escalate-sla-breaches"]["task"] == "insights.tasks.escalate_sla_breaches"
    assert tasks.escalate_sla_breaches() == NOTHING


def test_inactive_people_and_other_roles_are_not_told(order, merchant, store_manager):
    gone = MerchantAdminFactory(merchant=merchant, is_active=False)
    ops_gone = OperatorFactory(is_active=False)
    now = timezone.now()
    _breach(order, now)
    escalation_scan(now=now + 4 * H)
    escalation_scan(now=now + 28 * H)
    assert not Notification.objects.filter(recipient__in=[gone, ops_gone, store_manager],
                                           kind__startswith="sla.escalated").exists()
    assert OrderEvent.objects.filter(order=order, kind__startswith="breach.escalated").count() == 2


# --- the admin: the brand sets its delay, everyone sees the level ---------------------------------------------------
def test_a_brand_admin_sets_its_own_delay_in_the_admin_and_sees_only_its_own(merchant, merchant_admin, other_merchant,
                                                                            store_manager):
    from django.test import Client

    EscalationSetting.objects.create(merchant=other_merchant, brand_after_hours=9)
    web = Client()
    web.force_login(merchant_admin)
    url = "/admin/insights/escalationsetting/"
    response = web.post(f"{url}add/", {"brand_after_hours": "2"})
    assert response.status_code == 302, response.content[:500]
    mine = EscalationSetting.objects.get(merchant=merchant)
    assert mine.brand_after_hours == 2
    listing = web.get(url).content.decode()
    assert str(merchant) in listing and str(other_merchant) not in listing
    theirs = EscalationSetting.objects.get(merchant=other_merchant)
    assert web.get(f"{url}{theirs.pk}/change/").status_code in (302, 404)  # outside the scope: absent
    assert web.post(f"{url}add/", {"brand_after_hours": "0"}).status_code == 200  # at least an hour: the form again
    manager = Client()
    manager.force_login(store_manager)
    assert manager.get(url).status_code == 403  # a store manager neither sees nor sets it


def test_the_breach_admin_shows_the_level(order, merchant_admin, english):
    from django.test import Client

    now = timezone.now()
    breach = _breach(order, now)
    escalation_scan(now=now + 4 * H)
    web = Client()
    web.force_login(merchant_admin)
    assert "Brand" in web.get("/admin/insights/slabreach/?level=1").content.decode()
    assert "0 results" in web.get("/admin/insights/slabreach/?level=2").content.decode()
    assert "told the brand" in web.get(f"/admin/insights/slabreach/{breach.pk}/change/").content.decode().lower()


def test_the_metrics_count_how_far_the_breaches_went(order, store, consumer, operator_client, admin_client_api):
    now = timezone.now()
    _breach(order, now)
    _breach(make_order(store=store, consumer=consumer), now)
    escalation_scan(now=now + 4 * H)  # both to the brand
    SlaBreach.objects.filter(pk=SlaBreach.objects.order_by("pk").first().pk).update(platform_escalated_at=now)
    for client in (operator_client, admin_client_api):
        body = client.get("/api/v1/platform/metrics/").json()
        assert body["sla_breaches"]["escalated"] == {"brand": 2, "platform": 1}
        assert body["sla_breaches"]["total"] == 2
