"""POST /api/v1/stages/{id}/submit/ retried with its Idempotency-Key: the multipart boundary differs on
every try, the files do not, so the retry replays the first answer and the stage is submitted once."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart

from tests.factories.fieldwork import image_bytes
from tests.factories.workflows import make_order, stage_of
from workflows.models import OrderEvent, StageSubmissionFile

DESIGN_FLOW = {
    "name": "Design only",
    "stages": [
        {"code": "design", "name": "Design", "requires_approval": True, "max_rework_rounds": 2},
        {"code": "handover", "name": "Handover"},
    ],
}


@pytest.fixture
def design(store, consumer, store_manager):
    order = make_order(store=store, consumer=consumer, definition=DESIGN_FLOW, actor=store_manager)
    return stage_of(order, "design")


def submit(client, stage, key, *, data=None, name="d1.png", notes="Draft 1"):
    boundary = uuid.uuid4().hex  # a new boundary on every try, as real clients send
    files = [SimpleUploadedFile(name, data or image_bytes("PNG"), content_type="image/png")]
    body = encode_multipart(boundary, {"notes": notes, "file": files})
    return client.post(f"/api/v1/stages/{stage.pk}/submit/", body,
                       content_type=f"multipart/form-data; boundary={boundary}", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retried_submission_replays_the_first_answer_and_submits_once(client_for, store_manager, design):
    manager = client_for(store_manager)
    first = submit(manager, design, "submit-1")
    second = submit(manager, design, "submit-1")
    assert first.status_code == second.status_code == 200, second.content
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert first.json()["state"] == "awaiting_approval" and len(first.json()["submission_files"]) == 1
    stored = StageSubmissionFile.objects.get(stage=design)
    with stored.file.open("rb") as f:  # the view got the file intact after the middleware hashed it
        assert f.read() == image_bytes("PNG")
    assert OrderEvent.objects.filter(order=design.order, kind="stage.complete", from_state="design:ready").count() == 1


@pytest.mark.parametrize("change", [{"data": image_bytes("PNG", size=(9, 9))}, {"name": "d2.png"},
                                    {"notes": "Draft 2"}], ids=["other-file", "other-file-name", "other-notes"])
def test_an_other_submission_with_the_same_key_is_422(client_for, store_manager, design, change):
    manager = client_for(store_manager)
    assert submit(manager, design, "submit-2").status_code == 200
    response = submit(manager, design, "submit-2", **change)
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert StageSubmissionFile.objects.filter(stage=design).count() == 1
