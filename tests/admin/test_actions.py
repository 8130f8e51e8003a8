"""The order page's actions: each calls the service the API calls, under the same policy action. Tried by
every role and by the other tenant: the roles the policy names get it done; staff whose role may not take it
get an admin message and nothing changes; accounts that are not staff are sent to the admin's login; an
order, visit, stage or payment outside the viewer's scope is a 404."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payments.models import Payment, PriceRevision, Refund
from tests.admin.conftest import web
from tests.factories import StoreManagerFactory
from tests.factories.vouchers import code_of
from tests.factories.workflows import pdf_bytes, stage_of
from vouchers.models import Voucher
from workflows import services
from workflows.models import Appointment, ServiceOrder

pytestmark = pytest.mark.django_db

ROLES = ["admin", "manager", "manager2", "ops", "tech", "consumer", "x_admin", "x_manager"]
NOT_STAFF = {"tech", "consumer"}
HIDDEN = {"manager2", "x_admin", "x_manager"}  # another store of the merchant, the other tenant


@pytest.fixture
def users(merchant_admin, store_manager, store2, operator, technician, consumer, other_admin, other_store_manager):
    return {"admin": merchant_admin, "manager": store_manager, "ops": operator, "tech": technician,
            "consumer": consumer, "x_admin": other_admin, "x_manager": other_store_manager,
            "manager2": StoreManagerFactory(username="a_manager2", stores=[store2])}


def _assign(request):
    visit, tech2 = request.getfixturevalue("visit"), request.getfixturevalue("technician2")
    url = reverse("admin:workflows_order_assign", args=[visit.order_id, visit.pk])
    return url, {"technician": tech2.pk}, lambda: Appointment.objects.get(pk=visit.pk).technician_id == tech2.pk


def _move(request):
    visit = request.getfixturevalue("visit")
    start = services.appointment_slots(stage=visit.stage)[1].start
    url = reverse("admin:workflows_order_move", args=[visit.order_id, visit.pk])
    return url, {"window_start": start.isoformat()}, \
        lambda: Appointment.objects.filter(order=visit.order, window_start=start, state="booked").exists()


def _cancel(request):
    order = request.getfixturevalue("paid_order")
    return (reverse("admin:workflows_order_cancel", args=[order.pk]), {"reason": "Consumer moved away"},
            lambda: ServiceOrder.objects.get(pk=order.pk).status == "cancelled")


def _redeem(request):
    visit = request.getfixturevalue("visit")
    voucher = Voucher.objects.get(stage=visit.stage)
    url = reverse("admin:vouchers_voucher_redeem") + f"?order={visit.order_id}"
    return url, {"code": code_of(voucher)}, lambda: Voucher.objects.get(pk=voucher.pk).state == "redeemed"


def _refund(request):
    payment = Payment.objects.get(order=request.getfixturevalue("paid_order"))
    return (reverse("admin:payments_payment_refund", args=[payment.pk]), {"amount": "150.00", "reason": "goodwill"},
            lambda: Refund.objects.filter(payment=payment, amount=Decimal("150.00")).exists())


def _revise(request):
    order = request.getfixturevalue("paid_order")
    data = {"total_amount": "12500.00", "reason": "Measured", "lines": "Extra shelf; 800.00\nNo drawer; -300.00"}
    return (reverse("admin:payments_pricerevision_propose", args=[order.pk]), data,
            lambda: PriceRevision.objects.filter(order=order, new_total=Decimal("12500.00"), status="open").exists())


def _resume(request):
    order = request.getfixturevalue("escalated_order")
    design = stage_of(order, "design")
    return (reverse("admin:workflows_order_resume", args=[order.pk, design.pk]), {"note": "Called the consumer"},
            lambda: stage_of(order, "design").state == "in_progress")


def _submit(request):
    order = request.getfixturevalue("design_order")
    design = stage_of(order, "design")
    data = {"notes": "Draft with oak doors", "files": [SimpleUploadedFile("draft.pdf", pdf_bytes())]}
    return (reverse("admin:workflows_order_submit", args=[order.pk, design.pk]), data,
            lambda: stage_of(order, "design").state == "awaiting_approval")


def _create(request):
    store = request.getfixturevalue("store")
    template = request.getfixturevalue("paid_order").template_version.template
    data = {"store": store.pk, "template": template.pk, "phone": "139 1234 5678", "name": "Wang Fang",
            "total_amount": "8000.00", "currency": "CNY", "service_address": "1 Huaihai Road",
            "latitude": "31.2", "longitude": "121.4"}
    return (reverse("admin:workflows_order_create"), data,
            lambda: ServiceOrder.objects.filter(consumer__phone="+8613912345678").exists())


# action: (set-up, the roles the policy lets do it among the staff who may see the object)
ACTIONS = {
    "assign": (_assign, {"admin", "manager", "ops"}),
    "move": (_move, {"admin", "manager", "ops"}),
    "cancel": (_cancel, {"admin", "manager", "ops"}),
    "redeem": (_redeem, {"admin", "manager"}),
    "refund": (_refund, {"admin", "manager"}),
    "resume": (_resume, {"admin", "manager"}),
    "revise": (_revise, {"admin", "manager"}),
    "submit": (_submit, {"admin", "manager"}),
    "create": (_create, {"admin", "manager", "ops"}),
}
# Actions that are not about one object the viewer must see (a typed code, a new order): no 404.
NO_OBJECT = {"redeem", "create"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_action_by_every_role(action, role, users, request):
    setup, allowed = ACTIONS[action]
    url, data, done = setup(request)
    client = web(users[role])
    page = client.get(url)
    response = client.post(url, data)
    if role in NOT_STAFF:
        assert page.status_code == response.status_code == 302 and "/admin/login/" in response["Location"]
    elif role in HIDDEN and action not in NO_OBJECT:
        assert page.status_code == response.status_code == 404
    elif role in allowed:
        assert page.status_code == 200
        assert response.status_code == 302, response.content.decode()[-3000:]
        assert done(), [str(m) for m in response.wsgi_request._messages]
        return
    else:
        assert response.status_code in (200, 302)  # the form again, or back to the order, with a message
        messages = [m.level_tag for m in response.wsgi_request._messages]
        assert "error" in messages or response.status_code == 200
    assert not done()


def test_a_refusal_of_the_service_is_an_admin_message_not_a_500(manager_web, paid_order):
    payment = Payment.objects.get(order=paid_order)
    url = reverse("admin:payments_payment_refund", args=[payment.pk])
    response = manager_web.post(url, {"amount": "5000.00"}, follow=True)  # more than the 1,200.00 paid
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert not Refund.objects.exists()


def test_a_revision_whose_items_do_not_add_up_is_an_admin_message(manager_web, paid_order, english):
    url = reverse("admin:payments_pricerevision_propose", args=[paid_order.pk])
    response = manager_web.post(url, {"total_amount": "12500.00", "reason": "Measured", "lines": "Shelf; 100.00"},
                                follow=True)
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert "new total minus the current total" in str(list(response.context["messages"])[0])
    assert not PriceRevision.objects.exists()
    page = manager_web.get(reverse("admin:workflows_serviceorder_change", args=[paid_order.pk])).content.decode()
    assert 'data-testid="propose-revision"' in page


def test_a_wrong_voucher_code_is_a_message_and_the_form_again(manager_web, visit):
    url = reverse("admin:vouchers_voucher_redeem") + f"?order={visit.order_id}"
    response = manager_web.post(url, {"code": "ABCD-EFGH-JKLM"})
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert Voucher.objects.get(stage=visit.stage).state == "issued"


def test_buttons_follow_the_viewer_role(busy_order, merchant_admin, operator):
    # the operator may cancel and reassign but not refund or redeem (store staff's work)
    html = web(operator).get(reverse("admin:workflows_serviceorder_change", args=[busy_order.pk])).content.decode()
    assert 'data-testid="cancel-order"' in html and 'data-testid="refund-' not in html
    assert 'data-testid="propose-revision"' not in html
    assert 'data-testid="redeem"' not in html
    html = web(merchant_admin).get(reverse("admin:workflows_serviceorder_change",
                                           args=[busy_order.pk])).content.decode()
    assert 'data-testid="refund-' in html and 'data-testid="redeem"' in html
