"""Check-in and check-out take coordinates as JSON numbers or numeric strings (issue 21, point 9)."""

import pytest

from fieldwork.models import CheckIn, CheckOut
from tests.fieldwork.helpers import check_in_body, check_out_body, job_url

pytestmark = pytest.mark.django_db


def test_check_in_and_check_out_take_numeric_strings_as_well(client_for, technician, visit):
    tech = client_for(technician)
    order = visit.order
    as_strings = {"latitude": str(order.latitude), "longitude": str(order.longitude)}
    response = tech.post(job_url(visit, "check-in"), {**check_in_body(order), **as_strings}, format="json")
    assert response.status_code == 201, response.json()
    checkin = CheckIn.objects.get(appointment=visit)
    assert (checkin.latitude, checkin.longitude) == (order.latitude, order.longitude)
    assert response.json()["distance_m"] == 0
    response = tech.post(job_url(visit, "check-out"), {**check_out_body(order), **as_strings}, format="json")
    assert response.status_code == 201, response.json()
    assert CheckOut.objects.get(appointment=visit).latitude == order.latitude


@pytest.mark.parametrize("bad", [True, "north", "1e2", None])
def test_check_in_refuses_what_is_not_a_coordinate(client_for, technician, visit, bad):
    response = client_for(technician).post(
        job_url(visit, "check-in"), {**check_in_body(visit.order), "latitude": bad}, format="json")
    assert response.status_code == 400
    assert "latitude" in response.json()["errors"]
    assert not CheckIn.objects.exists()


