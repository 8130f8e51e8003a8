"""Coordinates are numbers (issue 21, point 9): JSON numbers and numeric strings are taken by every endpoint that
takes coordinates (order creation, check-in, check-out); anything else is a 400 naming the field."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from core.fields import latitude_field, longitude_field
from tests.factories.workflows import make_template
from tests.workflows.test_order_api import order_payload
from workflows.models import ServiceOrder


@pytest.mark.parametrize("lat, lng, stored", [
    (31.2304, 121.4737, ("31.230400", "121.473700")),  # JSON numbers
    (31, -121, ("31.000000", "-121.000000")),  # JSON integers
    ("31.230000", "121.470000", ("31.230000", "121.470000")),  # strings, as before
    (31.23040049, 121.47370051, ("31.230400", "121.473701")),  # GPS precision: rounded to 6 places
])
def test_an_order_takes_coordinates_as_numbers_or_strings(client_for, store_manager, merchant, store,
                                                          lat, lng, stored):
    template = make_template(merchant=merchant, stores=[store])
    response = client_for(store_manager).post(
        "/api/v1/orders/", order_payload(template, store, latitude=lat, longitude=lng), format="json")
    assert response.status_code == 201, response.json()
    order = ServiceOrder.objects.get(pk=response.json()["id"])
    assert (order.latitude, order.longitude) == (Decimal(stored[0]), Decimal(stored[1]))


@pytest.mark.parametrize("changes, field", [
    ({"latitude": 90.0001}, "latitude"),
    ({"latitude": "-91"}, "latitude"),
    ({"longitude": 180.5}, "longitude"),
    ({"latitude": True}, "latitude"),
    ({"latitude": None}, "latitude"),
    ({"latitude": "1e1"}, "latitude"),
    ({"latitude": "NaN"}, "latitude"),
    ({"latitude": " 31.2"}, "latitude"),
    ({"latitude": [31.2]}, "latitude"),
    ({"longitude": {"v": 1}}, "longitude"),
    ({"longitude": ""}, "longitude"),
])
def test_a_bad_coordinate_is_a_400_naming_the_field(client_for, store_manager, merchant, store, changes, field):
    template = make_template(merchant=merchant, stores=[store])
    response = client_for(store_manager).post(
        "/api/v1/orders/", order_payload(template, store, **changes), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ServiceOrder.objects.exists()


@given(value=st.floats(min_value=-180, max_value=180, allow_nan=False))
def test_a_number_and_its_string_give_the_same_coordinate(value):
    field = longitude_field()
    parsed = field.run_validation(value)
    assert parsed == Decimal(repr(value)).quantize(Decimal("0.000001"))
    assert parsed == field.run_validation(f"{Decimal(repr(value)):f}")
    assert parsed.as_tuple().exponent == -6


@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not -90 <= v <= 90),
                       st.booleans(), st.text().filter(lambda t: not t.replace(".", "", 1).lstrip("-").isdigit())))
def test_anything_else_is_refused(value):
    with pytest.raises(ValidationError):
        latitude_field().run_validation(value)
