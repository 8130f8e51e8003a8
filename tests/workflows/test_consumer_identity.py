"""Who an order is for: phones are normalised to E.164, so any spelling of a number finds its account, and
contact details of two different people are refused rather than silently resolved."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from tenancy.models import User
from tenancy.phones import InvalidPhone, normalize_phone
from tests.factories.tenancy import ConsumerFactory, TechnicianFactory
from tests.factories.workflows import make_template
from workflows import services
from workflows.models import ServiceOrder

ZHANG = "+8613800000001"


@pytest.fixture
def zhang(db):
    return ConsumerFactory(username="consumer_zhang", phone=ZHANG, email="zhang@example.com")


@pytest.fixture
def chen(db):
    return ConsumerFactory(username="consumer_chen", phone="+8613800000002", email="chen@example.com")


@pytest.fixture
def template(merchant, store):
    return make_template(merchant=merchant, stores=[store])


def create_order(client, template, store, consumer):
    return client.post(
        "/api/v1/orders/",
        {
            "template": template.pk,
            "store": store.pk,
            "consumer": consumer,
            "total_amount": "12000.00",
            "currency": "CNY",
            "service_address": "88 Test Road, Shanghai",
            "latitude": "31.230000",
            "longitude": "121.470000",
        },
        format="json",
    )


# --- the normaliser ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["13800000001", " +86 138-0000-0001 ", "+86 138 0000 0001", "008613800000001", "(138) 0000-0001",
     "+86-138-0000-0001", "8613800000001"],
)
def test_usual_spellings_of_a_chinese_mobile_normalise_to_e164(typed):
    assert normalize_phone(typed) == ZHANG


@pytest.mark.parametrize("typed", ["12345", "+86 123", "hello", "+1 000 000 0000", "", "   ", "1" * 80,
                                   "+86 138 0000 0001 ext. 12"])
def test_invalid_numbers_are_refused(typed):
    with pytest.raises(InvalidPhone):
        normalize_phone(typed)


def test_the_default_region_comes_from_settings(settings):
    settings.DEFAULT_PHONE_REGION = "US"
    assert normalize_phone("650 253 0000") == "+16502530000"
    assert normalize_phone("+86 138 0000 0001") == ZHANG  # a country code always wins


SEPARATORS = st.sampled_from(["", " ", "-", ".", "  "])


@given(
    subscriber=st.integers(min_value=0, max_value=99_999_999),
    prefix=st.sampled_from(["138", "139", "150", "186", "177"]),
    country=st.sampled_from(["", "+86", "+86 ", "0086", "86"]),
    seps=st.lists(SEPARATORS, min_size=3, max_size=3),
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_any_spelling_of_a_valid_mobile_normalises_to_the_same_e164(subscriber, prefix, country, seps, pad):
    digits = f"{prefix}{subscriber:08d}"
    typed = f"{pad}{country}{seps[0]}{digits[:3]}{seps[1]}{digits[3:7]}{seps[2]}{digits[7:]}{pad}"
    expected = f"+86{digits}"
    assert normalize_phone(typed) == expected
    assert normalize_phone(expected) == expected  # idempotent


# --- order creation through the API ---------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["13800000001", " +86 138-0000-0001 ", "0086 138 0000 0001"])
def test_a_national_or_formatted_number_finds_the_e164_account(client_for, store_manager, store, template, zhang,
                                                               typed):
    response = create_order(client_for(store_manager), template, store, {"phone": typed, "name": "Zhang"})
    assert response.status_code == 201, response.json()
    assert ServiceOrder.objects.get(pk=response.json()["id"]).consumer_id == zhang.pk
    assert User.objects.filter(role=User.Role.CONSUMER).count() == 1
    # and zhang sees it
    assert client_for(zhang).get(f"/api/v1/orders/{response.json()['id']}/").status_code == 200


def test_a_new_consumer_is_stored_with_the_e164_phone(client_for, store_manager, store, template):
    response = create_order(client_for(store_manager), template, store, {"phone": "139 0000 0042", "name": "Zhou"})
    assert response.status_code == 201, response.json()
    consumer = ServiceOrder.objects.get(pk=response.json()["id"]).consumer
    assert consumer.phone == "+8613900000042" and consumer.username == "c_8613900000042"
    again = create_order(client_for(store_manager), template, store, {"phone": "+86 139-0000-0042"})
    assert ServiceOrder.objects.get(pk=again.json()["id"]).consumer_id == consumer.pk


@pytest.mark.parametrize("typed", ["12345", "not a phone", "+86 123 4567", "1" * 100])
def test_an_invalid_number_is_a_400_on_consumer_phone(client_for, store_manager, store, template, typed):
    response = create_order(client_for(store_manager), template, store, {"phone": typed})
    assert response.status_code == 400, response.json()
    assert "phone" in response.json()["errors"]["consumer"]
    assert not ServiceOrder.objects.exists() and not User.objects.filter(role=User.Role.CONSUMER).exists()


def test_phone_and_email_of_two_different_people_are_refused_and_nothing_is_created(
    client_for, store_manager, store, template, zhang, chen
):
    users_before = User.objects.count()
    response = create_order(
        client_for(store_manager), template, store, {"phone": "13800000001", "email": "chen@example.com"}
    )
    assert response.status_code == 400, response.json()
    body = response.json()
    assert "different account" in body["errors"]["consumer"]["email"][0]
    assert not ServiceOrder.objects.exists() and User.objects.count() == users_before


def test_phone_and_email_of_the_same_person_find_them(client_for, store_manager, store, template, zhang):
    response = create_order(
        client_for(store_manager), template, store, {"phone": "138 0000 0001", "email": "ZHANG@example.com"}
    )
    assert response.status_code == 201, response.json()
    assert ServiceOrder.objects.get(pk=response.json()["id"]).consumer_id == zhang.pk


def test_a_known_phone_with_a_new_email_is_refused_and_the_account_is_not_changed(
    client_for, store_manager, store, template, zhang
):
    response = create_order(
        client_for(store_manager), template, store, {"phone": "13800000001", "email": "someone.else@example.com"}
    )
    assert response.status_code == 400, response.json()
    assert "phone alone" in response.json()["errors"]["consumer"]["email"][0]
    zhang.refresh_from_db()
    assert zhang.email == "zhang@example.com"
    assert not ServiceOrder.objects.exists() and User.objects.filter(role=User.Role.CONSUMER).count() == 1


def test_a_known_email_with_a_new_phone_is_refused(client_for, store_manager, store, template, zhang):
    response = create_order(
        client_for(store_manager), template, store, {"phone": "13900000077", "email": "zhang@example.com"}
    )
    assert response.status_code == 400, response.json()
    assert "email alone" in response.json()["errors"]["consumer"]["phone"][0]
    zhang.refresh_from_db()
    assert zhang.phone == ZHANG
    assert not User.objects.filter(phone="+8613900000077").exists()


def test_a_new_phone_and_a_new_email_make_one_new_account_with_both(client_for, store_manager, store, template):
    response = create_order(
        client_for(store_manager), template, store, {"phone": "13900000088", "email": "new@example.com"}
    )
    assert response.status_code == 201, response.json()
    consumer = ServiceOrder.objects.get(pk=response.json()["id"]).consumer
    assert (consumer.phone, consumer.email) == ("+8613900000088", "new@example.com")


def test_an_email_shared_by_two_accounts_alone_is_ambiguous(client_for, store_manager, store, template, zhang):
    ConsumerFactory(phone="+8613800000099", email="zhang@example.com")
    response = create_order(client_for(store_manager), template, store, {"email": "zhang@example.com"})
    assert response.status_code == 400, response.json()
    assert "email" in response.json()["errors"]["consumer"]
    # the phone settles it
    assert create_order(client_for(store_manager), template, store,
                        {"phone": "13800000001", "email": "zhang@example.com"}).status_code == 201


def test_a_staff_phone_in_any_spelling_is_refused(client_for, store_manager, store, template):
    TechnicianFactory(stores=[store], phone="+8613900000123")
    response = create_order(client_for(store_manager), template, store, {"phone": "139-0000-0123"})
    assert response.status_code == 400
    assert "staff" in response.json()["errors"]["consumer"]["phone"][0]


def test_the_service_normalises_too(zhang):
    assert services.consumer_find_or_create(phone=" 138 0000 0001 ") == zhang
    with pytest.raises(DomainError) as exc:
        services.consumer_find_or_create(phone="12345")
    assert "phone" in exc.value.extra["errors"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seps=st.lists(SEPARATORS, min_size=3, max_size=3),
    country=st.sampled_from(["", "+86", "+86 ", "0086"]),
)
def test_any_spelling_of_zhangs_number_finds_zhang_through_the_service(zhang, seps, country):
    typed = f"{country}{seps[0]}138{seps[1]}0000{seps[2]}0001"
    assert services.consumer_find_or_create(phone=typed) == zhang
    assert User.objects.filter(role=User.Role.CONSUMER).count() == 1


# --- the admin's user form ------------------------------------------------------------------------------


def test_the_user_model_stores_the_e164_form_and_refuses_invalid_numbers(db):
    user = User(username="walkin", role=User.Role.CONSUMER, phone=" 138-0000-0005 ")
    user.set_unusable_password()
    user.full_clean()
    assert user.phone == "+8613800000005"
    user.phone = "12345"
    with pytest.raises(ValidationError) as exc:
        user.full_clean()
    assert "phone" in exc.value.message_dict


def test_the_model_refuses_a_second_spelling_of_a_taken_number(zhang):
    twin = User(username="twin", role=User.Role.CONSUMER, phone="13800000001")
    twin.set_unusable_password()
    with pytest.raises(ValidationError) as exc:
        twin.full_clean()
    assert "phone" in exc.value.message_dict


def test_an_unknown_default_region_fails_the_system_check(settings):
    from tenancy.apps import check_phone_region

    assert check_phone_region() == []
    settings.DEFAULT_PHONE_REGION = "XX"
    assert [m.id for m in check_phone_region()] == ["tenancy.E001"]
