"""Field records in the admin: visible within the tenant, read-only for everyone."""

import pytest
from django.test import Client

from fieldwork.models import CheckIn
from tests.fieldwork.helpers import check_in_body, job_url, photo_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(tech, visit):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    photo_upload(tech, visit)
    return CheckIn.objects.get()


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", ["checkin", "evidence", "clientevent"])
def test_manager_sees_records_but_cannot_change_them(store_manager, recorded, model):
    client = browser(store_manager)
    assert client.get(f"/admin/fieldwork/{model}/").status_code == 200
    assert client.get(f"/admin/fieldwork/{model}/add/").status_code == 403


def test_operator_cannot_edit_a_check_in_either(operator, recorded):
    client = browser(operator)
    page = client.get(f"/admin/fieldwork/checkin/{recorded.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(f"/admin/fieldwork/checkin/{recorded.pk}/delete/", {"post": "yes"}).status_code == 403


def test_other_tenant_does_not_see_the_check_in(other_store_manager, recorded):
    client = browser(other_store_manager)
    response = client.get(f"/admin/fieldwork/checkin/{recorded.pk}/change/")
    assert response.status_code == 302  # "does not exist" redirect
    assert client.get("/admin/fieldwork/checkin/").context["cl"].result_count == 0
