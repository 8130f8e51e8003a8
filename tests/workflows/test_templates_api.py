"""Merchants design, publish and distribute workflow templates through the API."""

import copy
from decimal import Decimal

import pytest

from tests.factories.workflows import make_order, make_template
from workflows import services
from workflows.models import ServiceOrder, StageDefinition, TemplateVersion
from workflows.reference import CUSTOM_WARDROBE

URL = "/api/v1/templates/"


def wardrobe_payload(**changes):
    data = copy.deepcopy(CUSTOM_WARDROBE)
    for stage in data["stages"]:
        if stage.get("payment_share") is not None:
            stage["payment_share"] = str(stage["payment_share"])
    data.update(changes)
    return data


@pytest.fixture
def admin_api(client_for, merchant_admin):
    return client_for(merchant_admin)


def test_merchant_admin_creates_publishes_and_distributes_a_template(admin_api, store, store2):
    # given a draft made through the API
    created = admin_api.post(URL, wardrobe_payload(), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["draft"]["status"] == "draft"
    assert [s["code"] for s in body["draft"]["stages"]] == [
        "booking",
        "measuring",
        "design",
        "installation",
        "acceptance",
    ]
    assert body["published"] == []

    # when it is published and distributed to one store
    published = admin_api.post(f"{URL}{body['id']}/publish/")
    assert published.status_code == 200, published.json()
    assert published.json()["draft"] is None
    assert published.json()["published"][0]["number"] == 1
    distributed = admin_api.post(f"{URL}{body['id']}/distribute/", {"stores": [store.pk]}, format="json")

    # then that store has version 1, the other store nothing
    assert distributed.status_code == 200
    assert [(d["store"], d["version_number"]) for d in distributed.json()["distributions"]] == [(store.pk, 1)]


@pytest.mark.parametrize(
    "mutate, field, fragment",
    [
        (lambda d: d["stages"][0].update(payment_share="20"), "payment_share", "add up to 110"),
        (lambda d: d["stages"][1].update(code="booking"), "code", "used more than once"),
        (lambda d: d["stages"][2].update(sla_hours=99999), "sla_hours", "between 1 and"),
        (lambda d: d["stages"][1].update(requires_appointment=False), "requires_voucher", "no on-site appointment"),
        (lambda d: d["stages"][1].update(checklist=["level", "level "]), "checklist", "more than once"),
    ],
)
@pytest.mark.usefixtures("english")
def test_publish_refuses_an_invalid_template_with_a_message_per_problem(admin_api, mutate, field, fragment):
    data = wardrobe_payload()
    mutate(data)
    created = admin_api.post(URL, data, format="json")
    # duplicate codes are refused as soon as the draft is written; the rest when publishing
    response = created if created.status_code == 400 else admin_api.post(f"{URL}{created.json()['id']}/publish/")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "template_invalid"
    assert any(p["field"] == field and fragment in p["message"] for p in body["problems"]), body
    assert not TemplateVersion.objects.filter(status="published").exists()


def test_a_voucher_valid_for_more_than_ten_years_is_refused(admin_api, merchant):
    """3,000,000 days overflowed the voucher's valid_until: the order's creation answered 500. The API refuses it
    with the draft, and publishing refuses it in a draft written another way (the admin, older data)."""
    data = wardrobe_payload()
    data["stages"][1]["voucher_valid_days"] = 3_000_000
    response = admin_api.post(URL, data, format="json")
    assert response.status_code == 400
    assert "voucher_valid_days" in str(response.json()["errors"])

    stages = [StageDefinition(code="visit", name="Visit", position=1, requires_appointment=True,
                              requires_voucher=True, voucher_valid_days=days) for days in (3650, 3651)]
    assert services.template_problems([stages[0]]) == []
    assert [p["field"] for p in services.template_problems([stages[1]])] == ["voucher_valid_days"]


@pytest.mark.usefixtures("english")
def test_a_template_without_stages_cannot_be_published(admin_api):
    template_id = admin_api.post(URL, wardrobe_payload(stages=[]), format="json").json()["id"]
    response = admin_api.post(f"{URL}{template_id}/publish/")
    assert response.status_code == 400
    assert response.json()["problems"][0]["message"] == "A workflow needs at least one stage."


def test_editing_a_published_template_makes_a_new_draft_and_running_orders_keep_their_version(
    admin_api, merchant, store, consumer
):
    template = make_template(merchant=merchant, stores=[store])
    order = make_order(store=store, consumer=consumer, template=template)
    v1 = order.template_version

    stages = wardrobe_payload()["stages"]
    stages[1]["min_photos"] = 5
    patched = admin_api.patch(f"{URL}{template.pk}/", {"stages": stages}, format="json")

    assert patched.status_code == 200
    assert patched.json()["draft"]["stages"][1]["min_photos"] == 5
    v1.refresh_from_db()
    assert v1.status == "published" and v1.stages.get(code="measuring").min_photos == 2
    # publishing v2 and redistributing does not move the running order
    admin_api.post(f"{URL}{template.pk}/publish/")
    admin_api.post(f"{URL}{template.pk}/distribute/", {"stores": [store.pk]}, format="json")
    order.refresh_from_db()
    assert order.template_version_id == v1.pk
    new_order = make_order(store=store, consumer=consumer, template=template)
    assert new_order.template_version.number == 2


def test_publishing_with_no_draft_is_a_conflict(admin_api, merchant, store):
    template = make_template(merchant=merchant, stores=[store])
    response = admin_api.post(f"{URL}{template.pk}/publish/")
    assert response.status_code == 409
    assert response.json()["code"] == "nothing_to_publish"


def test_orders_only_from_templates_distributed_to_the_store(client_for, store_manager, merchant, store, store2):
    template = make_template(merchant=merchant, stores=[store2])
    response = client_for(store_manager).post(
        "/api/v1/orders/",
        {
            "template": template.pk,
            "store": store.pk,
            "consumer": {"phone": "+8613900000009", "name": "Zhou Min"},
            "total_amount": "12000.00",
            "currency": "CNY",
            "service_address": "1 Test Road",
            "latitude": "31.2",
            "longitude": "121.4",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "not_distributed"
    assert not ServiceOrder.objects.exists()


def test_diagram_is_drawn_from_the_engine_machine(admin_api, merchant, store):
    template = make_template(merchant=merchant, stores=[store])

    mermaid = admin_api.get(f"{URL}{template.pk}/diagram/?format=mermaid")
    assert mermaid.status_code == 200
    text = mermaid.content.decode()
    assert "stateDiagram-v2" in text
    assert "design__awaiting_approval --> design__escalated: reject" in text
    assert "installation__waiting_payment --> installation__ready: unblock" in text

    # An empty version is no version (the draft, else the latest), as the schema says; an unknown one is a 400.
    assert admin_api.get(f"{URL}{template.pk}/diagram/?format=mermaid&version=").content == mermaid.content
    assert admin_api.get(f"{URL}{template.pk}/diagram/?format=mermaid&version=99").status_code == 400



def test_the_svg_diagram_needs_no_graphviz_and_speaks_the_merchant_words(admin_api, merchant, store, consumer,
                                                                         monkeypatch, tmp_path, english):
    import shutil

    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz binary (nor anything else) on the PATH
    assert shutil.which("dot") is None
    template = make_template(merchant=merchant, stores=[store])
    make_order(store=store, consumer=consumer, template=template)
    svg = admin_api.get(f"{URL}{template.pk}/diagram/")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    body = svg.content.decode()
    assert body.startswith("<svg") and "Measuring on site" in body and "10% due before" in body
    assert "__" not in body and "waiting_payment" not in body  # no engine state names
    assert 'data-stage="booking" data-live="1"' in body  # the live order waits at the booking stage


def test_split_preview_adds_up_to_the_sample_total(admin_api, merchant, store):
    template = make_template(merchant=merchant, stores=[store])
    response = admin_api.get(f"{URL}{template.pk}/split-preview/?total=12000.00")
    assert response.status_code == 200
    amounts = [Decimal(i["amount"]) for i in response.json()["installments"]]
    assert amounts == [Decimal("1200.00"), Decimal("3600.00"), Decimal("6000.00"), Decimal("1200.00")]


def test_split_preview_refuses_an_empty_currency_as_the_schema_says(admin_api, merchant, store):
    # The schema gives `currency` as one of the known currencies: an empty value is refused, not read as CNY.
    template = make_template(merchant=merchant, stores=[store])
    response = admin_api.get(f"{URL}{template.pk}/split-preview/?total=510.01&currency=")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"currency"}
    assert admin_api.get(f"{URL}{template.pk}/split-preview/?total=510.01").json()["currency"] == "CNY"


@pytest.mark.parametrize("query, field", [("total=510.01&currency=XYZ", "currency"),
                                          ("total=510.50&currency=JPY", "total")])
def test_split_preview_refuses_an_unknown_currency_and_an_amount_it_would_round(admin_api, merchant, store,
                                                                                query, field):
    template = make_template(merchant=merchant, stores=[store])
    response = admin_api.get(f"{URL}{template.pk}/split-preview/?{query}")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}


def test_templates_of_another_merchant_are_invisible(client_for, other_admin, merchant, store):
    template = make_template(merchant=merchant, stores=[store])
    api = client_for(other_admin)
    assert api.get(f"{URL}{template.pk}/").status_code == 404
    assert api.post(f"{URL}{template.pk}/publish/").status_code == 404
    assert api.get(URL).json()["results"] == []


@pytest.mark.parametrize("role", ["technician", "consumer"])
def test_technicians_and_consumers_may_not_use_templates(request, client_for, role):
    user = request.getfixturevalue(role)
    assert client_for(user).get(URL).status_code == 403
    assert client_for(user).post(URL, wardrobe_payload(), format="json").status_code == 403


def test_store_manager_reads_but_does_not_edit_templates(client_for, store_manager, merchant, store):
    template = make_template(merchant=merchant, stores=[store])
    api = client_for(store_manager)
    assert api.get(f"{URL}{template.pk}/").status_code == 200
    assert api.patch(f"{URL}{template.pk}/", {"name": "x"}, format="json").status_code == 403


@pytest.mark.usefixtures("english")
def test_template_api_needs_the_enterprise_tier(client_for, merchant, merchant_admin):
    merchant.tier = "growth"
    merchant.save()
    response = client_for(merchant_admin).get(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "tier_limit"
    assert "template API" in response.json()["detail"]


@pytest.mark.usefixtures("english")
def test_basic_tier_refuses_rework_loops_and_long_workflows(merchant):
    from core.errors import DomainError
    from tests.factories.workflows import linear_stages

    merchant.tier = "basic"
    merchant.save()
    with pytest.raises(DomainError, match="up to 5 stages"):
        make_template(merchant=merchant, definition=linear_stages(6))
    with pytest.raises(DomainError, match="rework loops"):
        make_template(merchant=merchant)  # the wardrobe's design stage allows 2 rework rounds
    assert make_template(merchant=merchant, definition=linear_stages(5)).versions.count() == 1


@pytest.mark.parametrize("store_id", [2**63, 2**64 + 1])
def test_a_store_id_beyond_any_primary_key_is_refused_not_a_server_error(admin_api, merchant, store, store_id):
    # Found by the fuzzer on SQLite: an id past the 64-bit range raised OverflowError inside the `pk__in` query
    # (500). PostgreSQL answered 400 only because the database refused it (DataError); now the input is refused.
    template = make_template(merchant=merchant, stores=[store])
    response = admin_api.post(f"{URL}{template.pk}/distribute/", {"stores": [store.pk, store_id]}, format="json")
    assert response.status_code == 400, response.content
    assert "stores" in response.json()["errors"]
