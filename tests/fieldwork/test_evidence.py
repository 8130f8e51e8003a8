"""POST /api/v1/technician/jobs/{id}/evidence/: real images only for photos, size limit, storage."""

import hashlib
import uuid

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart

from fieldwork.models import ClientEvent, Evidence
from tests.factories.fieldwork import image_bytes
from tests.fieldwork.helpers import check_in_body, job_url, photo_upload
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_site(tech, visit):
    assert tech.post(job_url(visit, "check-in"), check_in_body(visit.order)).status_code == 201
    return visit


@pytest.mark.parametrize("fmt, content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_photo_is_stored_with_checksum_and_detected_type(tech, on_site, technician, fmt, content_type):
    data = image_bytes(fmt)
    response = photo_upload(tech, on_site, data=data, name="../../evil name.html")

    assert response.status_code == 201, response.content
    evidence = Evidence.objects.get()
    assert evidence.sha256 == hashlib.sha256(data).hexdigest() == response.json()["sha256"]
    assert evidence.size == len(data)
    assert evidence.content_type == content_type
    assert evidence.stage == on_site.stage and evidence.technician == technician
    # The server names the file: the uploader's name (and its extension) never reaches the storage.
    assert evidence.file.name.startswith(f"evidence/{on_site.order_id}/")
    assert "evil" not in evidence.file.name and not evidence.file.name.endswith(".html")
    with default_storage.open(evidence.file.name, "rb") as stored:
        assert stored.read() == data
    event = OrderEvent.objects.get(order=on_site.order, kind="job.evidence_added")
    assert event.payload["sha256"] == evidence.sha256 and event.actor == technician


@pytest.mark.parametrize(
    "data",
    [b"<html><script>alert(1)</script></html>", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>',
     b"%PDF-1.4 not a photo", image_bytes("PNG")[:40]],
    ids=["html", "svg", "pdf", "truncated-png"],
)
def test_non_image_photo_is_a_400(tech, on_site, data):
    response = photo_upload(tech, on_site, data=data, name="photo.png")
    assert response.status_code == 400, response.content
    assert "file" in response.json()["errors"]
    assert Evidence.objects.count() == 0 and not ClientEvent.objects.filter(kind="evidence").exists()


def test_oversize_file_is_a_400(tech, on_site, settings):
    settings.EVIDENCE_MAX_BYTES = 1024
    response = photo_upload(tech, on_site, data=image_bytes("PNG", size=(400, 400), color=None) + b"\0" * 2048)
    assert response.status_code == 400
    assert "file" in response.json()["errors"]
    assert Evidence.objects.count() == 0


def test_non_photo_kinds_are_stored_as_opaque_bytes(tech, on_site):
    response = photo_upload(tech, on_site, kind="measurement", data=b"<svg onload=alert(1)>", name="m.svg")
    assert response.status_code == 201
    evidence = Evidence.objects.get()
    assert evidence.content_type == "application/octet-stream"
    assert evidence.file.name.endswith(".bin")


def test_replayed_upload_is_stored_once(tech, on_site):
    cid = str(uuid.uuid4())
    first = photo_upload(tech, on_site, cid=cid)
    second = photo_upload(tech, on_site, cid=cid)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Evidence.objects.count() == 1
    assert OrderEvent.objects.filter(kind="job.evidence_added").count() == 1


def test_evidence_before_check_in_is_a_conflict(tech, visit):
    response = photo_upload(tech, visit)
    assert response.status_code == 409
    assert Evidence.objects.count() == 0


def test_evidence_on_another_technicians_job_is_404(client_for, on_site, technician2):
    assert photo_upload(client_for(technician2), on_site).status_code == 404


def test_missing_file_or_bad_kind_is_a_400(tech, on_site):
    url = job_url(on_site, "evidence")
    assert tech.post(url, {"kind": "photo", "client_event_id": str(uuid.uuid4())},
                     format="multipart").status_code == 400
    upload = SimpleUploadedFile("p.png", image_bytes(), content_type="image/png")
    assert tech.post(url, {"file": upload, "kind": "selfie", "client_event_id": str(uuid.uuid4())},
                     format="multipart").status_code == 400



def test_an_empty_recorded_at_is_a_400_not_read_as_now(tech, on_site):
    """The schema says a date-time when the field is given; DRF would read an empty form value as absent."""
    upload = SimpleUploadedFile("p.png", image_bytes(), content_type="image/png")
    response = tech.post(job_url(on_site, "evidence"), {"file": upload, "kind": "photo", "recorded_at": "",
                                                         "client_event_id": str(uuid.uuid4())}, format="multipart")
    assert response.status_code == 400 and "recorded_at" in response.json()["errors"]
    assert not Evidence.objects.exists()


def _keyed_upload(tech_client, job, key, *, cid, data=None, name="p.png"):
    """The evidence upload of a mobile client: a fresh multipart boundary on every (re)try."""
    boundary = uuid.uuid4().hex
    body = encode_multipart(boundary, {"file": SimpleUploadedFile(name, data or image_bytes("PNG"), "image/png"),
                                       "kind": "photo", "client_event_id": cid})
    return tech_client.post(job_url(job, "evidence"), body, content_type=f"multipart/form-data; boundary={boundary}",
                            HTTP_IDEMPOTENCY_KEY=key)


def test_a_retried_upload_with_its_idempotency_key_replays_the_first_answer(tech, on_site):
    cid = str(uuid.uuid4())
    first = _keyed_upload(tech, on_site, "evidence-1", cid=cid)
    second = _keyed_upload(tech, on_site, "evidence-1", cid=cid)
    assert first.status_code == second.status_code == 201, second.content
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    evidence = Evidence.objects.get()
    with default_storage.open(evidence.file.name, "rb") as stored:  # the view got the file intact
        assert stored.read() == image_bytes("PNG")
    assert evidence.sha256 == hashlib.sha256(image_bytes("PNG")).hexdigest()
    assert OrderEvent.objects.filter(kind="job.evidence_added").count() == 1


@pytest.mark.parametrize("change", [{"data": image_bytes("PNG", size=(9, 9))}, {"name": "other.png"}],
                         ids=["other-file", "same-file-other-name"])
def test_an_other_upload_with_the_same_idempotency_key_is_422(tech, on_site, change):
    cid = str(uuid.uuid4())
    assert _keyed_upload(tech, on_site, "evidence-2", cid=cid).status_code == 201
    response = _keyed_upload(tech, on_site, "evidence-2", cid=cid, **change)
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert Evidence.objects.count() == 1
