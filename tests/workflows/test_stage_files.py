"""POST /api/v1/stages/{id}/submit/ takes documents and images only, stored under names the server chooses; and
GET /api/v1/stages/{id}/files/{file_id}/ gives them back to whoever may see the order (and to nobody else: 404).

The defect this covers: the consumer could not open the design they had to approve (the detail listed
/media/... URLs that nothing serves), and any file, HTML included, was stored under the client's name in a
folder shared by every merchant."""

import importlib
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories.fieldwork import image_bytes, make_job
from tests.factories.workflows import StageSubmissionFileFactory, make_order, pdf_bytes, stage_of
from workflows.models import OrderEvent, StageSubmissionFile

pytestmark = pytest.mark.django_db

# The brief needs nothing; the design waits for the consumer's approval.
DESIGN_FLOW = {
    "name": "Design only",
    "stages": [
        {"code": "brief", "name": "Brief"},
        {"code": "design", "name": "Design", "requires_approval": True, "max_rework_rounds": 2},
    ],
}
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


def body_of(response) -> bytes:
    """The streamed body. Reading it to the end closes the response (the test client's closing iterator does, with
    the database connection left open): closing it again would fire request_finished and, on PostgreSQL, close the
    test's connection."""
    return b"".join(response.streaming_content)


def submit_url(stage) -> str:
    return f"/api/v1/stages/{getattr(stage, 'pk', stage)}/submit/"


def file_url(stage, file) -> str:
    return f"/api/v1/stages/{getattr(stage, 'pk', stage)}/files/{getattr(file, 'pk', file)}/"


def submit(client, stage, *files, notes="Draft 1"):
    return client.post(submit_url(stage), {"notes": notes, "file": list(files)}, format="multipart")


@pytest.fixture
def order(store, consumer, store_manager):
    return make_order(store=store, consumer=consumer, definition=DESIGN_FLOW, actor=store_manager)


@pytest.fixture
def design(order):
    return stage_of(order, "design")


@pytest.fixture
def drafts(manager_client, design):
    """A PDF and a PNG submitted by the store manager through the API: {name: (bytes, StageSubmissionFile)}."""
    pdf, png = pdf_bytes(), image_bytes("PNG", color=(10, 120, 200))
    response = submit(manager_client, design, SimpleUploadedFile("Wardrobe v1.pdf", pdf, content_type="text/html"),
                      SimpleUploadedFile("front view.png", png, content_type="application/octet-stream"))
    assert response.status_code == 200, response.content
    rows = {f.original_name: f for f in StageSubmissionFile.objects.filter(stage=design)}
    return {"pdf": (pdf, rows["Wardrobe v1.pdf"]), "png": (png, rows["front view.png"])}


@pytest.fixture
def technician_on_the_order(order, technician):
    """`technician` holds a visit of the order (the order's scope lets them see its detail)."""
    make_job(order=order, code="design", technician=technician, window_start=timezone.now() + timedelta(days=1))
    return technician


# --- the consumer opens the design they must approve ---------------------------------------------


def test_the_consumer_downloads_the_design_from_the_order_detail(consumer_client, order, design, drafts):
    detail = consumer_client.get(f"/api/v1/orders/{order.pk}/").json()
    (stage,) = [s for s in detail["stages"] if s["code"] == "design"]
    assert stage["state"] == "awaiting_approval"
    pdf, pdf_row = drafts["pdf"]
    png, png_row = drafts["png"]
    assert stage["submission_files"] == [
        {"id": pdf_row.pk, "name": "Wardrobe v1.pdf", "content_type": "application/pdf", "size": len(pdf),
         "download_url": file_url(design, pdf_row)},
        {"id": png_row.pk, "name": "front view.png", "content_type": "image/png", "size": len(png),
         "download_url": file_url(design, png_row)},
    ]

    for item, data, ext in ((stage["submission_files"][0], pdf, "pdf"), (stage["submission_files"][1], png, "png")):
        response = consumer_client.get(item["download_url"])
        assert response.status_code == 200
        assert body_of(response) == data
        assert response["Content-Type"] == item["content_type"]
        assert response["Content-Disposition"] == f'attachment; filename="submission-{item["id"]}.{ext}"'
        assert response["X-Content-Type-Options"] == "nosniff"
        csp = [d.strip() for d in response["Content-Security-Policy"].split(";")]
        assert "sandbox" in csp and "default-src 'none'" in csp
        assert response["Cache-Control"] == "private, no-store"


def test_the_stage_answers_list_the_same_files_as_the_detail(manager_client, consumer_client, order, design):
    response = submit(manager_client, design, SimpleUploadedFile("d.pdf", pdf_bytes()))
    assert response.status_code == 200
    from_submit = response.json()["submission_files"]
    from_stage = consumer_client.get(f"/api/v1/stages/{design.pk}/").json()["submission_files"]
    detail = consumer_client.get(f"/api/v1/orders/{order.pk}/").json()
    from_detail = next(s for s in detail["stages"] if s["code"] == "design")["submission_files"]
    assert from_submit == from_stage == from_detail
    assert [f["name"] for f in from_detail] == ["d.pdf"]


def test_files_are_stored_per_merchant_under_names_the_server_chooses(merchant, design, drafts):
    for _, row in drafts.values():
        assert re.fullmatch(rf"submissions/{merchant.pk}/[0-9a-f]{{32}}\.(pdf|png)", row.file.name), row.file.name
        assert row.file.name.rsplit(".", 1)[1] == {"application/pdf": "pdf", "image/png": "png"}[row.content_type]
    assert drafts["pdf"][1].file.name != drafts["png"][1].file.name


def test_a_new_draft_after_a_rejection_is_listed_beside_the_first(manager_client, consumer_client, order, design,
                                                                    drafts):
    assert consumer_client.post(f"/api/v1/stages/{design.pk}/reject/", {"reason": "Wider"}).status_code == 200
    second = pdf_bytes((1, 2, 3))
    assert submit(manager_client, design, SimpleUploadedFile("v2.pdf", second), notes="Draft 2").status_code == 200
    detail = consumer_client.get(f"/api/v1/orders/{order.pk}/").json()
    files = next(s for s in detail["stages"] if s["code"] == "design")["submission_files"]
    assert [f["name"] for f in files] == ["Wardrobe v1.pdf", "front view.png", "v2.pdf"]
    assert body_of(consumer_client.get(files[-1]["download_url"])) == second


# --- who may download ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["merchant_admin", "store_manager", "operator", "technician_on_the_order"])
def test_staff_and_the_orders_technician_download_it(request, client_for, who, design, drafts):
    data, row = drafts["pdf"]
    response = client_for(request.getfixturevalue(who)).get(file_url(design, row))
    assert response.status_code == 200
    assert body_of(response) == data


@pytest.mark.parametrize("who", ["consumer2", "technician", "technician2", "other_admin", "other_store_manager",
                                 "other_technician", "other_consumer"])
def test_nobody_else_learns_it_exists(request, client_for, who, design, drafts):
    """Another consumer, a technician with no visit on the order (of the same store), the other brand's people:
    404, exactly what a file that does not exist answers."""
    _, row = drafts["pdf"]
    client = client_for(request.getfixturevalue(who))
    missing = client.get(file_url(design, 987654321))
    response = client.get(file_url(design, row))
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json()
    assert response.json()["code"] == "not_found"


def test_anonymous_is_401(anon_client, design, drafts):
    assert anon_client.get(file_url(design, drafts["pdf"][1])).status_code == 401


def test_a_file_asked_under_another_stage_id_is_404(consumer, consumer_client, store, store_manager, order, design,
                                                    drafts):
    _, row = drafts["pdf"]
    brief = stage_of(order, "brief")
    # The same consumer's second order, with a draft of its own: both orders are the consumer's.
    second = make_order(store=store, consumer=consumer, definition=DESIGN_FLOW, actor=store_manager)
    second_design = stage_of(second, "design")
    other = StageSubmissionFileFactory(stage=second_design)
    assert consumer_client.get(file_url(second_design, other)).status_code == 200

    for url in (file_url(brief, row), file_url(second_design, row), file_url(design, other)):
        response = consumer_client.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"


def test_a_file_missing_from_storage_is_a_clean_404(consumer_client, design, drafts):
    _, row = drafts["pdf"]
    default_storage.delete(row.file.name)
    body = consumer_client.get(file_url(design, row)).json()
    assert body == {"code": "submission_file_missing", "detail": "The file of this submission is missing."}


IMPOSSIBLE_IDS = ("99999999999999999999999999", "abc", "-1", "0")


def test_ids_that_cannot_exist_are_404(consumer_client, design, drafts):
    """Either id too large for the database, not a number, or not positive, beside a real other id."""
    real = drafts["pdf"][1].pk
    pairs = [(bad, real) for bad in IMPOSSIBLE_IDS] + [(design.pk, bad) for bad in IMPOSSIBLE_IDS]
    answers = {pair: consumer_client.get(file_url(*pair)) for pair in pairs}
    assert {pair: (r.status_code, r.json()["code"]) for pair, r in answers.items()} == {
        pair: (404, "not_found") for pair in pairs
    }


def test_any_accept_header_gets_the_file(consumer_client, design, drafts):
    data, row = drafts["png"]
    response = consumer_client.get(file_url(design, row), HTTP_ACCEPT="image/*")
    assert response.status_code == 200
    assert body_of(response) == data


@pytest.mark.parametrize("who, most", [("consumer", 2), ("store_manager", 3)])
def test_the_download_costs_the_same_queries_whatever_the_number_of_files(
        request, client_for, django_assert_max_num_queries, design, who, most):
    client = client_for(request.getfixturevalue(who))
    first = StageSubmissionFileFactory(stage=design)
    assert client.get(file_url(design, first)).status_code == 200  # the token's look-up now in the cache

    def count() -> int:
        with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(most):
            response = client.get(file_url(design, first))
        assert response.status_code == 200
        body_of(response)
        return len(queries)

    one = count()
    StageSubmissionFileFactory.create_batch(9, stage=design)
    assert count() == one


# --- what uploads are refused --------------------------------------------------------------------


@pytest.mark.parametrize("name, data, content_type", [
    ("design.html", HTML, "text/html"),
    ("design.svg", SVG, "image/svg+xml"),
    ("design.png", HTML, "image/png"),  # the name and the type the client sends are not believed
    ("notes.txt", b"just some text", "text/plain"),
    ("design.pdf.html", b"<html>%PDF-1.4</html>", "application/pdf"),
])
def test_anything_but_a_document_or_an_image_is_refused(manager_client, order, design, name, data, content_type):
    before = OrderEvent.objects.filter(order=order).count()
    response = submit(manager_client, design, SimpleUploadedFile(name, data, content_type=content_type))
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {"file": [f"{name}: not a PDF document or a JPEG, PNG or WebP image."]}
    design.refresh_from_db()
    assert design.state == "ready"  # nothing happened
    assert OrderEvent.objects.filter(order=order).count() == before
    assert not StageSubmissionFile.objects.exists()


def test_one_bad_file_refuses_the_whole_submission_and_stores_nothing(manager_client, design, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    response = submit(manager_client, design, SimpleUploadedFile("ok.pdf", pdf_bytes()),
                      SimpleUploadedFile("evil.svg", SVG, content_type="image/svg+xml"))
    assert response.status_code == 400
    assert response.json()["errors"] == {"file": ["evil.svg: not a PDF document or a JPEG, PNG or WebP image."]}
    assert not StageSubmissionFile.objects.exists()
    assert not list(tmp_path.rglob("*.*"))


@pytest.mark.usefixtures("english")
def test_a_file_above_the_limit_is_refused(manager_client, design, settings):
    settings.SUBMISSION_MAX_BYTES = 1000
    response = submit(manager_client, design, SimpleUploadedFile("big.png", image_bytes("PNG", size=(400, 400))))
    assert response.status_code == 400
    assert response.json()["errors"] == {"file": ["Files are at most 1000 bytes."]}
    assert not StageSubmissionFile.objects.exists()


def test_the_timeline_names_the_files_as_data(manager_client, consumer_client, order, design, drafts):
    detail = consumer_client.get(f"/api/v1/orders/{order.pk}/").json()
    (event,) = [e for e in detail["timeline"] if e["kind"] == "stage.complete" and e["stage"] == design.pk]
    assert event["payload"]["files"] == ["Wardrobe v1.pdf", "front view.png"]


# --- files stored before the check ---------------------------------------------------------------


def test_the_migration_describes_files_stored_before_it(design):
    """A row from before (client name in a shared folder, no type): it gets its name, size and a type from its
    bytes; an HTML file stays opaque bytes, so its download is an attachment that no browser renders."""
    migration = importlib.import_module("workflows.migrations.0002_submission_files_typed_and_named_by_server")
    old = {}
    for name, data in (("d.jpg", image_bytes("JPEG")), ("page.html", HTML), ("gone.pdf", pdf_bytes())):
        stored = default_storage.save(f"submissions/2026/11/{name}", ContentFile(data))
        row = StageSubmissionFile.objects.create(stage=design, file=stored)
        old[name] = (row, data)
    default_storage.delete(old["gone.pdf"][0].file.name)

    migration.describe_existing_files(apps, None)

    described = {r.pk: (r.original_name, r.size, r.content_type) for r in StageSubmissionFile.objects.all()}
    assert described == {
        old["d.jpg"][0].pk: ("d.jpg", len(old["d.jpg"][1]), "image/jpeg"),
        old["page.html"][0].pk: ("page.html", len(HTML), "application/octet-stream"),
        old["gone.pdf"][0].pk: ("gone.pdf", 0, "application/octet-stream"),
    }
