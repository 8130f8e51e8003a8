"""Signing off: a stage whose definition asks for it is approved only with the consumer's drawn signature (a
real PNG), kept as an evidence file of kind `signature` whose SHA-256 is in the approval event; the page sends
it as a data URL, the API as a multipart file."""

from __future__ import annotations

import base64
import copy
import hashlib
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fieldwork.models import Evidence
from tests.factories.fieldwork import image_bytes
from tests.factories.workflows import make_order, stage_of
from tests.portal.conftest import DESIGN_FLOW, submit_design, url, verify
from workflows import services
from workflows.models import OrderEvent

pytestmark = pytest.mark.django_db

SIGNED_FLOW = copy.deepcopy(DESIGN_FLOW)
SIGNED_FLOW["stages"][1]["approval_requires_signature"] = True


def signed_order(*, store, consumer, manager):
    order = make_order(store=store, consumer=consumer, definition=SIGNED_FLOW, actor=manager)
    if stage_of(order, "brief").state != "done":
        services.stage_complete(stage=stage_of(order, "brief"), actor=manager)
    submit_design(order, manager)
    assert stage_of(order, "design").state == "awaiting_approval"
    return order


@pytest.fixture
def order(store, consumer, store_manager):
    return signed_order(store=store, consumer=consumer, manager=store_manager)


def png() -> bytes:
    return image_bytes("PNG", size=(340, 160), color=(255, 255, 255))


def code_of(response) -> str:
    found = re.search(r'data-code="([a-z_]*)"', response.content.decode())
    return found.group(1) if found else ""


def approve_api(api, stage, data=None):
    return api.post(f"/api/v1/stages/{stage.pk}/approve/", data or {}, format="multipart")


def test_the_template_api_takes_the_flag(order):
    assert stage_of(order, "design").definition.approval_requires_signature is True
    assert stage_of(order, "brief").definition.approval_requires_signature is False


def test_api_needs_the_signature_then_keeps_it_as_evidence(consumer_client, order):
    design = stage_of(order, "design")
    missing = approve_api(consumer_client, design)
    assert (missing.status_code, missing.json()["code"]) == (400, "signature_required")
    bad = approve_api(consumer_client, design, {"signature": SimpleUploadedFile("s.png", b"\x89PNG\r\n\x1a\nnot")})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_signature")
    jpeg = approve_api(consumer_client, design, {"signature": SimpleUploadedFile("s.png", image_bytes("JPEG"))})
    assert (jpeg.status_code, jpeg.json()["code"]) == (400, "invalid_signature")
    assert stage_of(order, "design").state == "awaiting_approval" and not Evidence.objects.exists()

    data = png()
    ok = approve_api(consumer_client, design, {"signature": SimpleUploadedFile("s.png", data)})
    assert ok.status_code == 200
    assert stage_of(order, "design").state == "done"
    event = OrderEvent.objects.get(order=order, kind="stage.approve")
    sha = hashlib.sha256(data).hexdigest()
    assert event.payload == {"signature_sha256": sha}
    evidence = Evidence.objects.get(order=order)
    assert (evidence.kind, evidence.sha256, evidence.stage_id, evidence.appointment_id, evidence.content_type) == (
        "signature", sha, design.pk, None, "image/png")
    with evidence.file.open("rb") as f:
        assert f.read() == data


def test_a_too_large_signature_is_refused(consumer_client, order, settings):
    settings.SIGNATURE_MAX_PX = 100
    refused = approve_api(consumer_client, stage_of(order, "design"), {"signature": SimpleUploadedFile("s.png", png())})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_signature")
    settings.SIGNATURE_MAX_PX, settings.SIGNATURE_MAX_BYTES = 2000, 100
    refused = approve_api(consumer_client, stage_of(order, "design"), {"signature": SimpleUploadedFile("s.png", png())})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_signature")


def test_other_consumer_and_other_tenant_get_404(client_for, consumer2, other_admin, order):
    design = stage_of(order, "design")
    # The other consumer cannot see the stage; staff (of either tenant) may not approve at all (403 by role,
    # before the stage is looked up) and the other tenant's cannot even read it.
    for user, status in ((consumer2, 404), (other_admin, 403)):
        response = approve_api(client_for(user), design, {"signature": SimpleUploadedFile("s.png", png())})
        assert response.status_code == status
    assert client_for(other_admin).get(f"/api/v1/stages/{design.pk}/").status_code == 404
    assert stage_of(order, "design").state == "awaiting_approval" and not Evidence.objects.exists()


def test_the_page_needs_the_drawn_signature(client, order, sms):
    verify(client, order, sms)
    page = client.get(url(order)).content.decode()
    assert 'data-testid="signature-canvas"' in page and "signature_pad.umd.min.js" in page
    approve = url(order, f"stages/{stage_of(order, 'design').pk}/approve/")
    # Without JavaScript the hidden field stays empty: refused, with why.
    empty = client.post(approve, {"signature": ""})
    assert (empty.status_code, code_of(empty)) == (400, "signature_required")
    junk = client.post(approve, {"signature": "data:image/png;base64,!!!"})
    assert (junk.status_code, code_of(junk)) == (400, "invalid_signature")
    not_png = client.post(approve, {"signature": "data:image/png;base64," + base64.b64encode(b"hello").decode()})
    assert (not_png.status_code, code_of(not_png)) == (400, "invalid_signature")
    assert stage_of(order, "design").state == "awaiting_approval"
    data = png()
    done = client.post(approve, {"signature": "data:image/png;base64," + base64.b64encode(data).decode()})
    assert done.status_code == 302 and "done=approved" in done["Location"]
    assert Evidence.objects.get(order=order, kind="signature").sha256 == hashlib.sha256(data).hexdigest()


def test_a_stage_without_the_flag_approves_as_before(consumer_client, design_order):
    design = stage_of(design_order, "design")
    assert consumer_client.post(f"/api/v1/stages/{design.pk}/approve/").status_code == 200
    assert OrderEvent.objects.get(order=design_order, kind="stage.approve").payload == {}
