"""GET /api/v1/technician/jobs/ and /jobs/{id}/."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from fieldwork.models import JobChange
from tests.factories.fieldwork import make_field_order, make_job
from tests.fieldwork.helpers import check_in_body, job_url, photo_upload
from workflows import services
from workflows.models import Appointment

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2031, 3, 4).date()


def at(day, hour, minute=0, tz=SHANGHAI):
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


@pytest.fixture
def orders(store, consumer, field_template):
    def make(n):
        return [make_field_order(store=store, consumer=consumer, template=field_template) for _ in range(n)]
    return make


def test_jobs_of_the_day_in_the_store_timezone_ordered_by_window(tech, technician, technician2, orders):
    o1, o2, o3, o4 = orders(4)
    late = make_job(order=o1, code="measuring", technician=technician, window_start=at(DAY, 15))
    early = make_job(order=o2, code="measuring", technician=technician, window_start=at(DAY, 9))
    # 00:30 in Shanghai on DAY is still the previous day in UTC: it belongs to DAY.
    midnight = make_job(order=o3, code="measuring", technician=technician, window_start=at(DAY, 0, 30))
    make_job(order=o3, code="installation", technician=technician, window_start=at(DAY + timedelta(days=1), 0, 30))
    make_job(order=o4, code="measuring", technician=technician2, window_start=at(DAY, 10))
    cancelled = make_job(order=o4, code="installation", technician=technician, window_start=at(DAY, 11))
    Appointment.objects.filter(pk=cancelled.pk).update(state=Appointment.State.CANCELLED)

    response = tech.get("/api/v1/technician/jobs/", {"date": DAY.isoformat()})

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["id"] for r in rows] == [midnight.pk, early.pk, late.pk]
    first = rows[1]
    assert first["window_start"] == at(DAY, 9).isoformat()
    assert first["timezone"] == "Asia/Shanghai"
    assert first["address"] == o2.service_address
    assert first["consumer"]["phone"] == o2.consumer.phone
    assert first["stage"]["code"] == "measuring"


def test_jobs_follow_each_stores_timezone(tech, technician, store, orders):
    store.timezone = "America/New_York"
    store.save()
    (order,) = orders(1)
    ny = ZoneInfo("America/New_York")
    job = make_job(order=order, code="measuring", technician=technician, window_start=at(DAY, 20, tz=ny))
    # 20:00 in New York is the next day in UTC and in Shanghai; the store's day counts.
    assert [r["id"] for r in tech.get("/api/v1/technician/jobs/", {"date": DAY.isoformat()}).json()["results"]] \
        == [job.pk]
    next_day = (DAY + timedelta(days=1)).isoformat()
    assert tech.get("/api/v1/technician/jobs/", {"date": next_day}).json()["results"] == []


def test_without_a_date_the_jobs_are_todays_in_each_stores_timezone(monkeypatch, tech, technician, store, store2,
                                                                     orders, consumer, field_template):
    store.timezone = "America/New_York"
    store.save()
    technician.stores.add(store2)  # store2 keeps Shanghai's time
    services.template_distribute(template=field_template, stores=[store2])
    ny = ZoneInfo("America/New_York")
    # 20:00 in New York, today: in Shanghai (the server's TIME_ZONE too) it is already tomorrow.
    now = datetime.combine(timezone.now().astimezone(ny).date(), time(20), tzinfo=ny)
    shanghai_today = now.astimezone(SHANGHAI).date()
    ny_order, ny_order2 = orders(2)
    tonight_ny = make_job(order=ny_order, code="measuring", technician=technician,
                          window_start=now + timedelta(hours=1))
    make_job(order=ny_order2, code="measuring", technician=technician, window_start=at(shanghai_today, 10, tz=ny))
    sh_order = make_field_order(store=store2, consumer=consumer, template=field_template)
    today_shanghai = make_job(order=sh_order, code="measuring", technician=technician,
                              window_start=at(shanghai_today, 11))
    monkeypatch.setattr(timezone, "now", lambda: now)

    rows = tech.get("/api/v1/technician/jobs/").json()["results"]

    assert [r["id"] for r in rows] == [tonight_ny.pk, today_shanghai.pk]


def test_bad_date_is_a_400(tech):
    assert tech.get("/api/v1/technician/jobs/", {"date": "04/03/2031"}).status_code == 400


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"])
@pytest.mark.usefixtures("english")
def test_a_date_outside_2000_to_2099_is_a_400_not_a_500(tech, day):
    """Python's datetime overflowed at both ends when the day was turned into a store-time range."""
    response = tech.get("/api/v1/technician/jobs/", {"date": day})
    assert response.status_code == 400
    assert response.json()["errors"]["date"] == ["Give a date between 2000-01-01 and 2099-12-31."]


@pytest.mark.parametrize("count", [2, 20])
def test_jobs_list_query_count_does_not_grow(tech, technician, orders, count, django_assert_max_num_queries):
    for i, order in enumerate(orders(count)):
        job = make_job(order=order, code="measuring", technician=technician,
                       window_start=at(DAY, 8) + timedelta(minutes=i))
        if i % 2:  # changed, and then cancelled: listed too, with its change
            JobChange.objects.create(technician=technician, stage=job.stage, window_start=job.window_start,
                                     kind=JobChange.Kind.CANCELLED, at=timezone.now())
            Appointment.objects.filter(pk=job.pk).update(state=Appointment.State.CANCELLED)
    # the token, the stores' time zones, the count, the page (with each job's change), the read recorded
    with django_assert_max_num_queries(6):
        response = tech.get("/api/v1/technician/jobs/", {"date": DAY.isoformat(), "page_size": 100})
    assert response.json()["count"] == count


def test_other_technicians_see_none_of_my_jobs(client_for, technician, technician2, other_technician, orders):
    (order,) = orders(1)
    make_job(order=order, code="measuring", technician=technician, window_start=at(DAY, 9))
    for user in (technician2, other_technician):
        assert client_for(user).get("/api/v1/technician/jobs/", {"date": DAY.isoformat()}).json()["count"] == 0


def test_job_detail_tells_what_is_needed_and_what_is_done(tech, visit):
    tech.post(job_url(visit, "check-in"), check_in_body(visit.order))
    photo_upload(tech, visit)

    response = tech.get(job_url(visit))

    assert response.status_code == 200
    data = response.json()
    assert data["address"] == visit.order.service_address
    assert data["latitude"] == f"{visit.order.latitude:.6f}"
    assert data["consumer"] == {"name": visit.order.consumer.display_name, "phone": visit.order.consumer.phone}
    assert data["rules"]["min_photos"] == 2
    assert data["rules"]["checklist"] == ["Walls measured", "Floor level checked", "Power sockets marked"]
    assert data["rules"]["requires_voucher"] is False and data["rules"]["voucher_redeemed"] is None
    assert len(data["done"]["checkins"]) == 1 and data["done"]["checkins"][0]["on_time"] is True
    assert data["done"]["photo_count"] == 1 and data["done"]["photos_missing"] == 1
    assert data["done"]["checklist"] == {"Walls measured": False, "Floor level checked": False,
                                         "Power sockets marked": False}
    assert data["state"] == "checked_in"


@pytest.mark.parametrize("who", ["technician2", "other_technician"])
def test_job_detail_of_someone_elses_job_is_404(request, client_for, visit, who):
    user = request.getfixturevalue(who)
    assert client_for(user).get(job_url(visit)).status_code == 404
