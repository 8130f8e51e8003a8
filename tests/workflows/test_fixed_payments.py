"""A stage may pay a fixed amount (a 500 CNY booking deposit) instead of a share: brands set it in the template API
and the admin, publishing checks it, the split preview and the orders' installments take it first."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from tests.factories.workflows import make_template
from workflows import services
from workflows.models import StageDefinition, TemplateVersion

URL = "/api/v1/templates/"


def deposit_payload(**booking):
    return {
        "name": "Wardrobe with a booking deposit",
        "stages": [
            {"code": "booking", "name": "Booking", "payment_amount": "500.00", "payment_timing": "before", **booking},
            {"code": "measuring", "name": "Measuring", "requires_appointment": True},
            {"code": "design", "name": "Design", "payment_share": "40", "payment_timing": "after"},
            {"code": "installation", "name": "Installation", "payment_share": "60", "payment_timing": "before"},
        ],
    }


def order_payload(template_id, store, total="12000.00", currency="CNY"):
    return {"template": template_id, "store": store.pk, "consumer": {"phone": "+8613900000001", "name": "Zhou Min"},
            "total_amount": total, "currency": currency, "service_address": "88 Test Road, Shanghai",
            "latitude": "31.230000", "longitude": "121.470000"}


@pytest.fixture
def admin_api(client_for, merchant_admin):
    return client_for(merchant_admin)


def stage(**fields):
    return StageDefinition(code=fields.pop("code", "booking"), name="Booking", position=1, **fields)


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize("fields, field, fragment", [
    ({"payment_share": Decimal("10"), "payment_amount": Decimal("500")}, "payment_amount", "not both"),
    ({"payment_amount": Decimal("500.50"), "payment_currency": "JPY"}, "payment_amount", "whole numbers"),
    ({"payment_amount": Decimal("500"), "payment_currency": "XYZ"}, "payment_currency", "Not a currency"),
])
def test_a_stage_pays_a_share_or_a_fixed_amount_in_whole_minor_units(fields, field, fragment):
    with pytest.raises(ValidationError) as refused:
        stage(**fields).clean()
    assert fragment in " ".join(refused.value.message_dict[field])
    stage(payment_amount=Decimal("500"), payment_currency="JPY").clean()  # a whole number of yen is fine


@pytest.mark.django_db
def test_the_database_refuses_a_share_and_a_fixed_amount_together(merchant):
    version = make_template(merchant=merchant, publish=False).versions.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        version.stages.filter(code="booking").update(payment_amount=Decimal("500"))  # it has a 10% share


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize("stages, field, fragment", [
    ([stage(payment_amount=Decimal("500"))], "payment_amount", "Every payment is a fixed amount"),
    ([stage(payment_amount=Decimal("500")), stage(code="b", payment_amount=Decimal("5"), payment_currency="USD"),
      stage(code="c", payment_share=Decimal("100"))], "payment_currency", "several currencies (CNY, USD)"),
    ([stage(payment_amount=Decimal("500.5"), payment_currency="JPY"), stage(code="c", payment_share=Decimal("100"))],
     "payment_amount", "Payment of stage 'booking': JPY amounts are whole numbers."),
    ([stage(payment_amount=Decimal("500")), stage(code="c", payment_share=Decimal("90"))], "payment_share",
     "add up to 90%"),
])
def test_publishing_checks_fixed_amounts(stages, field, fragment):
    problems = services.template_problems(stages)
    assert any(p["field"] == field and fragment in p["message"] for p in problems), problems


def test_a_deposit_and_shares_adding_up_to_100_can_be_published():
    assert services.template_problems([stage(payment_amount=Decimal("500")),
                                       stage(code="c", payment_share=Decimal("100"))]) == []


def test_a_template_with_a_deposit_is_made_published_and_its_orders_pay_the_deposit_first(
        admin_api, client_for, store_manager, store):
    # given a template with a 500 CNY booking deposit, made, published and distributed through the API
    created = admin_api.post(URL, deposit_payload(), format="json")
    assert created.status_code == 201, created.json()
    booking = created.json()["draft"]["stages"][0]
    assert (booking["payment_share"], booking["payment_amount"], booking["payment_currency"]) == (None, "500.00", "CNY")
    template_id = created.json()["id"]
    assert admin_api.post(f"{URL}{template_id}/publish/").status_code == 200
    assert admin_api.post(f"{URL}{template_id}/distribute/", {"stores": [store.pk]}, format="json").status_code == 200

    # when the store creates an order of 12,000.00
    response = client_for(store_manager).post("/api/v1/orders/", order_payload(template_id, store), format="json")

    # then the deposit is 500.00 and 40% / 60% split the other 11,500.00
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [(i["stage_code"], i["amount"], i["state"]) for i in body["installments"]] == [
        ("booking", "500.00", "due"), ("design", "4600.00", "scheduled"), ("installation", "6900.00", "scheduled")]
    assert [(s["code"], s["payment_share"], s["payment_amount"]) for s in body["stages"] if s["code"] != "measuring"] \
        == [("booking", None, "500.00"), ("design", "40.00", None), ("installation", "60.00", None)]


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize("total, currency, code", [
    ("499.99", "CNY", "total_below_fixed_payments"),
    ("12000", "JPY", "currency_mismatch"),
])
def test_an_order_the_deposit_cannot_be_taken_from_is_a_clear_400(admin_api, client_for, store_manager, store,
                                                                  total, currency, code):
    template_id = admin_api.post(URL, deposit_payload(), format="json").json()["id"]
    admin_api.post(f"{URL}{template_id}/publish/")
    admin_api.post(f"{URL}{template_id}/distribute/", {"stores": [store.pk]}, format="json")

    response = client_for(store_manager).post("/api/v1/orders/", order_payload(template_id, store, total, currency),
                                              format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert "fixed payments" in response.json()["detail"]


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize("booking, field", [
    ({"payment_share": "10"}, "payment_amount"),
    ({"payment_currency": "JPY", "payment_amount": "500.50"}, "payment_amount"),
    ({"payment_currency": "XYZ"}, "payment_currency"),
])
def test_the_template_api_refuses_a_payment_it_could_not_take(admin_api, booking, field):
    response = admin_api.post(URL, deposit_payload(**booking), format="json")
    assert response.status_code == 400
    assert field in str(response.json()["errors"])


def test_split_preview_takes_the_deposit_first(admin_api):
    template_id = admin_api.post(URL, deposit_payload(), format="json").json()["id"]

    response = admin_api.get(f"{URL}{template_id}/split-preview/?total=1000.01")

    assert response.status_code == 200
    assert [(i["stage"], i["share"], i["fixed_amount"], i["amount"]) for i in response.json()["installments"]] == [
        ("booking", None, "500.00", "500.00"), ("design", "40.00", None, "200.00"),
        ("installation", "60.00", None, "300.01")]
    below = admin_api.get(f"{URL}{template_id}/split-preview/?total=100")
    assert below.status_code == 400 and below.json()["code"] == "total_below_fixed_payments"
    other = admin_api.get(f"{URL}{template_id}/split-preview/?total=100000&currency=JPY")
    assert other.status_code == 400 and other.json()["code"] == "currency_mismatch"


@pytest.mark.usefixtures("english")
def test_the_admin_shows_and_checks_fixed_amounts(merchant_admin, admin_api):
    web = Client()
    web.force_login(merchant_admin)
    template_id = admin_api.post(URL, deposit_payload(), format="json").json()["id"]
    draft = TemplateVersion.objects.get(template_id=template_id)

    html = web.get(reverse("admin:workflows_templateversion_change", args=[draft.pk])).content.decode()

    assert 'name="stages-0-payment_amount"' in html and 'name="stages-0-payment_currency"' in html
    assert "None: this draft can be published." in html
    assert "<td>Booking</td><td>CN¥500.00</td>" in html and "CN¥3,800.00" in html  # 40% of 10,000.00 - 500.00
    draft.stages.filter(code="design").update(payment_share=None)
    draft.stages.filter(code="installation").update(payment_share=None)
    html = web.get(reverse("admin:workflows_templateversion_change", args=[draft.pk])).content.decode()
    assert "Every payment is a fixed amount" in html
