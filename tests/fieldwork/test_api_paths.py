"""API paths without their trailing slash reach their view (a write was a 500 under DEBUG, a 301 that clients
follow as a GET otherwise), and a path no route matches answers the JSON error in every mode."""

import pytest

from fieldwork.models import CheckIn
from tests.fieldwork.helpers import check_in_body, job_url
from workflows.models import ServiceOrder

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_a_check_in_posted_without_the_trailing_slash_is_recorded(tech, visit, debug):
    url = job_url(visit, "check-in").rstrip("/")
    response = tech.post(url, check_in_body(visit.order), format="json")
    assert response.status_code == 201, response.content
    assert CheckIn.objects.filter(appointment=visit).count() == 1


def test_a_cancel_posted_without_the_trailing_slash_cancels(client_for, store_manager, field_order, debug):
    response = client_for(store_manager).post(f"/api/v1/orders/{field_order.pk}/cancel", {"reason": "Moved"},
                                              format="json")
    assert response.status_code == 200, response.content
    assert ServiceOrder.objects.get(pk=field_order.pk).status == ServiceOrder.Status.CANCELLED


def test_someone_elses_order_without_the_slash_is_still_a_404(client_for, consumer2, field_order, debug):
    response = client_for(consumer2).post(f"/api/v1/orders/{field_order.pk}/cancel", {"reason": "x"}, format="json")
    assert response.status_code == 404
    assert ServiceOrder.objects.get(pk=field_order.pk).status != ServiceOrder.Status.CANCELLED


@pytest.mark.parametrize("path", ["/api/v1/nonexistent/", "/api/v1/nonexistent", "/api/v2/orders/"])
def test_an_unknown_api_path_answers_the_json_error(consumer_client, path, debug):
    response = consumer_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_pages_outside_the_api_keep_djangos_slash_redirect(client, debug):
    response = client.get("/track/some-token")
    assert response.status_code == 301 and response["Location"].endswith("/track/some-token/")
