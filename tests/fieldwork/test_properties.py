"""Properties: distances behave like distances; no sync payload, however odd, is a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldwork.geo import haversine_m

lat = st.floats(min_value=-90, max_value=90, allow_nan=False)
lng = st.floats(min_value=-180, max_value=180, allow_nan=False)


@given(lat, lng, lat, lng)
def test_haversine_is_symmetric_non_negative_and_bounded(a, b, c, d):
    there = haversine_m(a, b, c, d)
    assert there == pytest.approx(haversine_m(c, d, a, b), abs=1e-6)
    assert 0 <= there <= 20_015_115  # half the Earth's circumference
    assert haversine_m(a, b, a, b) == 0


@given(lat, lng, lat, lng, lat, lng)
def test_haversine_triangle_inequality(a, b, c, d, e, f):
    assert haversine_m(a, b, e, f) <= haversine_m(a, b, c, d) + haversine_m(c, d, e, f) + 1e-3


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                         st.text(max_size=20), st.uuids().map(str))
items = st.dictionaries(
    st.sampled_from(["type", "job", "client_event_id", "recorded_at", "latitude", "longitude", "accuracy_m",
                     "checklist", "notes", "junk"]),
    st.one_of(json_scalars, st.sampled_from(["check_in", "check_out", "checklist", "complete"]),
              st.lists(st.text(max_size=10), max_size=3)),
    max_size=8,
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(items, min_size=1, max_size=4))
def test_sync_answers_every_item_without_a_server_error(tech, visit, events):
    # Encoded by hand: the phone may send NaN/Infinity, which DRF's test client refuses to encode.
    response = tech.post("/api/v1/technician/sync/", json.dumps({"events": events}), content_type="application/json")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert all(200 <= r["status"] < 500 for r in response.json()["results"])
