"""The reference wardrobe's two site visits, done through the technician API end to end
(payments and vouchers left out of the template: their apps add their own guards)."""

import pytest

from fieldwork.models import CheckIn, Evidence
from tests.factories.fieldwork import book_visit, starting_soon
from tests.factories.workflows import stage_of
from tests.fieldwork.helpers import check_in_body, check_out_body, job_url, photo_upload
from workflows import services
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db


def do_visit(tech, visit, *, photos: int, checklist: list[str], replays: int = 0) -> None:
    visit = starting_soon(visit)  # the day of the visit
    body = check_in_body(visit.order, north_m=40)
    first = tech.post(job_url(visit, "check-in"), body)
    assert first.status_code == 201, first.content
    for _ in range(replays):
        again = tech.post(job_url(visit, "check-in"), body)
        assert (again.status_code, again.json()) == (201, first.json())
    detail = tech.get(job_url(visit)).json()
    assert detail["rules"]["min_photos"] == photos and detail["rules"]["checklist"] == checklist
    for i in range(photos):
        assert photo_upload(tech, visit, fmt="JPEG" if i % 2 else "PNG").status_code == 201
    assert photo_upload(tech, visit, kind="measurement", data=b"wall A: 2410 mm").status_code == 201
    out = tech.post(job_url(visit, "check-out"), check_out_body(visit.order, checklist=checklist))
    assert out.status_code == 201, out.content
    done = tech.post(job_url(visit, "complete"), {})
    assert done.status_code == 200, done.content


def test_measuring_and_installation_visits(tech, technician, field_order, consumer, store_manager, client_for):
    order = field_order
    assert order.state == "measuring:ready"  # the unpaid booking stage is passive here

    measuring = book_visit(order=order, code="measuring", consumer=consumer, technician=technician,
                           manager=store_manager)
    jobs = tech.get("/api/v1/technician/jobs/",
                    {"date": measuring.window_start.astimezone(order.store.tzinfo).date().isoformat()}).json()
    assert [j["id"] for j in jobs["results"]] == [measuring.pk]
    do_visit(tech, measuring, photos=2, replays=3,
             checklist=["Walls measured", "Floor level checked", "Power sockets marked"])
    assert CheckIn.objects.filter(appointment=measuring).count() == 1
    order.refresh_from_db()
    assert order.state == "design:ready"

    design = stage_of(order, "design")
    services.stage_submit(stage=design, actor=store_manager, notes="Draft v1")
    services.stage_approve(stage=design, actor=consumer)
    order.refresh_from_db()
    assert order.state == "installation:ready"

    installation = book_visit(order=order, code="installation", consumer=consumer, technician=technician,
                              manager=store_manager)
    do_visit(tech, installation, photos=3, checklist=["Cabinets level", "Doors aligned", "Site cleaned"])
    order.refresh_from_db()
    assert order.state == "acceptance:ready"
    assert Evidence.objects.filter(order=order, kind="photo").count() == 5

    kinds = list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds.count("job.checked_in") == 2 and kinds.count("job.checked_out") == 2
    assert kinds.count("job.evidence_added") == 7
    assert "job.late_arrival" not in kinds and "job.checkin_outside_radius" not in kinds

    # The order detail shows both visits (the "visits" section this app adds).
    detail = client_for(store_manager).get(f"/api/v1/orders/{order.pk}/")
    assert detail.status_code == 200
    visits = detail.json()["visits"]
    assert [v["appointment"] for v in visits] == [measuring.pk, installation.pk]
    assert all(v["on_time"] is True and v["outside_radius"] is False for v in visits)
    # checked in as soon as the visit was put 30 minutes ahead (on the minute): on time, and early by about 30
    assert all(v["minutes_late"] == 0 and v["minutes_early"] in (29, 30) for v in visits)
    assert all(v["distance_m"] == pytest.approx(40, abs=0.2) for v in visits)
    assert all(v["checked_in_at"] and v["checked_out_at"] for v in visits)


def test_visits_section_costs_the_same_with_more_records(tech, technician, field_order, consumer, store_manager,
                                                        client_for, django_assert_num_queries,
                                                        django_assert_max_num_queries):
    manager = client_for(store_manager)
    assert manager.get("/api/v1/orders/").status_code == 200  # the token's look-up now in the cache
    measuring = starting_soon(book_visit(order=field_order, code="measuring", consumer=consumer,
                                         technician=technician, manager=store_manager))
    tech.post(job_url(measuring, "check-in"), check_in_body(field_order))
    with django_assert_max_num_queries(60) as one:
        assert manager.get(f"/api/v1/orders/{field_order.pk}/").status_code == 200
    baseline = len(one)
    tech.post(job_url(measuring, "check-out"), check_out_body(field_order))
    with django_assert_num_queries(baseline):
        manager.get(f"/api/v1/orders/{field_order.pk}/")
