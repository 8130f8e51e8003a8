"""GET /api/v1/orders/{id}/evidence/ and .../{evidence_id}/file/: the order's evidence, back through the API,
to whoever may see the order (and to nobody else: 404)."""

import uuid
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fieldwork.models import Evidence
from tests.factories.fieldwork import book_visit, image_bytes, make_field_order, starting_soon
from tests.fieldwork.helpers import check_in_body, distinct_image, job_url, photo_upload

pytestmark = pytest.mark.django_db


def list_url(order) -> str:
    return f"/api/v1/orders/{getattr(order, 'pk', order)}/evidence/"


def file_url(order, evidence) -> str:
    return f"{list_url(order)}{getattr(evidence, 'pk', evidence)}/file/"


def body_of(response) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


@pytest.fixture
def on_site(tech, visit):
    assert tech.post(job_url(visit, "check-in"), check_in_body(visit.order)).status_code == 201
    return visit


@pytest.fixture
def photo(tech, on_site):
    """One PNG uploaded through the technician's endpoint: (its bytes, its Evidence row)."""
    data = image_bytes("PNG", color=(10, 120, 200))
    response = photo_upload(tech, on_site, data=data)
    assert response.status_code == 201, response.content
    return data, Evidence.objects.get(pk=response.json()["id"])


def upload(tech, job, *, kind="photo", data=None, recorded_at=None):
    body = {"file": SimpleUploadedFile("x.bin", data if data is not None else distinct_image("PNG")), "kind": kind,
            "client_event_id": str(uuid.uuid4())}
    if recorded_at is not None:
        body["recorded_at"] = recorded_at.isoformat()
    response = tech.post(job_url(job, "evidence"), body, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_the_order_detail_links_to_the_evidence_and_the_timeline_names_each_upload(consumer_client, photo, on_site):
    """The consumer app finds the photos from the order it shows: the detail's evidence_url lists them, and
    the timeline's job.evidence_added event names each piece."""
    _, evidence = photo
    detail = consumer_client.get(f"/api/v1/orders/{on_site.order_id}/").json()
    assert detail["evidence_url"] == list_url(on_site.order)
    listed = consumer_client.get(detail["evidence_url"]).json()["results"]
    added = [e for e in detail["timeline"] if e["kind"] == "job.evidence_added"]
    assert [i["id"] for i in listed] == [e["payload"]["evidence"] for e in added] == [evidence.pk]


def test_consumer_lists_and_downloads_the_photo_of_their_order(consumer_client, photo, on_site):
    data, evidence = photo

    listed = consumer_client.get(list_url(on_site.order))
    assert listed.status_code == 200, listed.content
    (item,) = listed.json()["results"]
    assert item == {
        "id": evidence.pk, "kind": "photo", "sha256": evidence.sha256, "size": len(data), "content_type": "image/png",
        "recorded_at": item["recorded_at"], "received_at": item["received_at"], "late_sync": False,
        "stage": {"id": on_site.stage_id, "code": "measuring"}, "appointment": on_site.pk,
        "download_url": file_url(on_site.order, evidence),
    }

    response = consumer_client.get(item["download_url"])
    assert response.status_code == 200
    assert body_of(response) == data
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == f'attachment; filename="evidence-{evidence.pk}.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert "private" in response["Cache-Control"]


def test_a_file_that_is_not_an_image_is_an_opaque_attachment(tech, consumer_client, on_site):
    html = b"<html><script>alert(1)</script></html>"
    evidence_id = upload(tech, on_site, kind="measurement", data=html)

    response = consumer_client.get(file_url(on_site.order, evidence_id), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert body_of(response) == html
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="evidence-{evidence_id}.bin"'
    assert "sandbox" in response["Content-Security-Policy"]


def test_any_accept_header_gets_the_file(consumer_client, photo, on_site):
    data, evidence = photo
    response = consumer_client.get(file_url(on_site.order, evidence), HTTP_ACCEPT="image/*")
    assert response.status_code == 200
    assert body_of(response) == data


@pytest.mark.parametrize("who", ["merchant_admin", "store_manager", "operator", "technician"])
def test_staff_and_the_visits_technician_see_it(request, client_for, who, photo, on_site):
    data, evidence = photo
    client = client_for(request.getfixturevalue(who))
    listed = client.get(list_url(on_site.order))
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["results"]] == [evidence.pk]
    response = client.get(file_url(on_site.order, evidence))
    assert response.status_code == 200
    assert body_of(response) == data


@pytest.mark.parametrize("who", ["consumer2", "technician2", "other_admin", "other_store_manager",
                                 "other_technician", "other_consumer"])
def test_nobody_else_learns_it_exists(request, client_for, who, photo, on_site):
    _, evidence = photo
    client = client_for(request.getfixturevalue(who))
    missing = client.get(list_url(987654321)).json()
    for url in (list_url(on_site.order), file_url(on_site.order, evidence)):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert response.json()["code"] == "not_found"
    # The list of an order one may not see answers exactly what an order that does not exist answers.
    assert client.get(list_url(on_site.order)).json() == missing


def test_anonymous_is_401(anon_client, photo, on_site):
    _, evidence = photo
    assert anon_client.get(list_url(on_site.order)).status_code == 401
    assert anon_client.get(file_url(on_site.order, evidence)).status_code == 401


def test_evidence_of_another_order_is_404_under_this_orders_id(
        tech, consumer, consumer_client, technician, store_manager, store, field_template, photo, on_site):
    # The same consumer's second order, with its own photo: both orders are visible to the consumer.
    second = make_field_order(store=store, consumer=consumer, template=field_template)
    visit2 = starting_soon(book_visit(order=second, code="measuring", consumer=consumer, technician=technician,
                                      manager=store_manager))
    assert tech.post(job_url(visit2, "check-in"), check_in_body(second)).status_code == 201
    other_id = upload(tech, visit2)

    assert consumer_client.get(file_url(second, other_id)).status_code == 200
    response = consumer_client.get(file_url(on_site.order, other_id))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert [e["id"] for e in consumer_client.get(list_url(on_site.order)).json()["results"]] == [photo[1].pk]
    assert [e["id"] for e in consumer_client.get(list_url(second)).json()["results"]] == [other_id]


def test_a_file_missing_from_storage_is_a_clean_404(consumer_client, photo, on_site):
    _, evidence = photo
    default_storage.delete(evidence.file.name)

    response = consumer_client.get(file_url(on_site.order, evidence))
    assert response.status_code == 404
    assert response.json() == {"code": "evidence_file_missing", "detail": "The file of this evidence is missing."}


@pytest.mark.parametrize("url", [
    "/api/v1/orders/99999999999999999999999999/evidence/",
    "/api/v1/orders/99999999999999999999999999/evidence/1/file/",
    "/api/v1/orders/1/evidence/99999999999999999999999999/file/",
    "/api/v1/orders/abc/evidence/",
    "/api/v1/orders/1/evidence/abc/file/",
])
def test_ids_that_cannot_exist_are_404(consumer_client, url):
    response = consumer_client.get(url)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_list_is_in_device_time_order(tech, consumer_client, on_site):
    now = timezone.now()
    later = upload(tech, on_site, recorded_at=now - timedelta(minutes=1))
    earlier = upload(tech, on_site, recorded_at=now - timedelta(minutes=5))
    same_time = upload(tech, on_site, recorded_at=now - timedelta(minutes=1))
    ids = [e["id"] for e in consumer_client.get(list_url(on_site.order)).json()["results"]]
    assert ids == [earlier, later, same_time]


@pytest.mark.parametrize("who, most", [("consumer", 3), ("store_manager", 4)])
def test_query_count_does_not_grow_with_the_evidence(request, client_for, django_assert_max_num_queries,
                                                      tech, on_site, who, most):
    client = client_for(request.getfixturevalue(who))
    upload(tech, on_site)
    assert client.get(list_url(on_site.order)).status_code == 200  # the token's look-up now in the cache

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(most):
            response = client.get(list_url(on_site.order))
        assert response.status_code == 200
        return len(response.json()["results"]), len(queries)

    one = count()
    for _ in range(7):
        upload(tech, on_site, kind="measurement", data=b"%PDF-1.4 a measurement sheet")
    many = count()
    assert one[0] == 1 and many[0] == 8
    assert one[1] == many[1]
