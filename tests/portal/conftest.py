"""Orders for the consumer's page: a design waiting for approval (with a PDF and a PNG draft), and a visit to
book; the SMS backend records what it sends, so a test reads the code the consumer would get."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from notifications.services import tracking_url
from tests.factories.fieldwork import image_bytes, make_job
from tests.factories.workflows import make_order, pdf_bytes, stage_of
from tests.notifications.sms_backends import RecordingSMSBackend
from workflows import services
from workflows.models import Appointment

DESIGN_FLOW = {
    "name": "Design and measure",
    "stages": [
        {"code": "brief", "name": "Brief"},
        {"code": "design", "name": "Design", "requires_approval": True, "max_rework_rounds": 2},
        {"code": "measure", "name": "Measure", "requires_appointment": True},
    ],
}


@pytest.fixture(autouse=True)
def sms(settings):
    settings.SMS_BACKEND = "tests.notifications.sms_backends.RecordingSMSBackend"
    RecordingSMSBackend.sent = []
    RecordingSMSBackend.references = []
    return RecordingSMSBackend


def last_code(sms) -> str:
    """The newest verification code texted (the order's own messages go through the same backend)."""
    i = max(i for i, ref in enumerate(sms.references) if ref.startswith("portal-code-"))
    return re.search(r"\b(\d{6})\b", sms.sent[i][1]).group(1)


def submit_design(order, manager):
    design = stage_of(order, "design")
    services.stage_submit(stage=design, actor=manager, notes="Draft 1: oak, sliding doors", files=[
        SimpleUploadedFile("wardrobe v1.pdf", pdf_bytes(), content_type="application/pdf"),
        SimpleUploadedFile("front.png", image_bytes("PNG", size=(120, 90), color=(10, 120, 200)),
                           content_type="image/png"),
    ])
    return design


def make_design_order(*, store, consumer, manager):
    """An order whose design waits for the consumer's approval (the brief needs nothing)."""
    order = make_order(store=store, consumer=consumer, definition=DESIGN_FLOW, actor=manager)
    brief = stage_of(order, "brief")
    if brief.state != "done":
        services.stage_complete(stage=brief, actor=manager)
    submit_design(order, manager)
    order.refresh_from_db()
    assert stage_of(order, "design").state == "awaiting_approval", order.state
    return order


@pytest.fixture
def design_order(store, consumer, store_manager, technician):
    return make_design_order(store=store, consumer=consumer, manager=store_manager)


def url(order, suffix: str = "") -> str:
    return f"{tracking_url(order)}{suffix}"


def verify(client, order, sms) -> None:
    """Ask for a code and enter it: `client` holds a session for `order` afterwards."""
    assert client.post(url(order, "code/")).status_code == 302
    response = client.post(url(order, "verify/"), {"code": last_code(sms)})
    assert response.status_code == 302 and "done=verified" in response["Location"]


ONE_STEP = {"name": "One step", "stages": [{"code": "fit", "name": "Fitting"},
                                           {"code": "visit", "name": "Visit"}]}


@pytest.fixture
def done_order(store, consumer, store_manager, technician):
    """A completed order (its plain steps complete by themselves) with one finished on-site visit."""
    order = make_order(store=store, consumer=consumer, definition=ONE_STEP, actor=store_manager)
    job = make_job(order=order, code="visit", technician=technician, window_start=timezone.now() - timedelta(hours=3))
    Appointment.objects.filter(pk=job.pk).update(state=Appointment.State.CHECKED_OUT)
    order.refresh_from_db()
    assert order.status == "completed", order.state
    order.job = job
    return order
