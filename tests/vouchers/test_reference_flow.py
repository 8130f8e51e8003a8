"""Acceptance: the reference wardrobe redeems its measuring and installation vouchers on site."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.errors import GuardFailed
from tests.factories.vouchers import book_visit, check_in, code_of, voucher_of
from tests.factories.workflows import make_order, stage_of
from vouchers.models import Voucher
from workflows import services
from workflows.models import OrderEvent

pay = pytest.importorskip("tests.factories.payments")
fieldwork = pytest.importorskip("fieldwork.services")
images = pytest.importorskip("tests.factories.fieldwork")


def _do_site_work(job):
    definition = job.stage.definition
    for i in range(definition.min_photos):
        data = images.image_bytes(color=(40 * i, job.pk % 256, 10))  # a photo of its own: a repeat is a 409
        upload = SimpleUploadedFile(f"p{i}.png", data, content_type="image/png")
        fieldwork.job_evidence_add(technician=job.technician, job_id=job.pk, client_event_id=uuid.uuid4(),
                                   kind="photo", file=upload)
    fieldwork.job_check_out(technician=job.technician, job_id=job.pk, client_event_id=uuid.uuid4(),
                            recorded_at=timezone.now(), latitude=job.order.latitude,
                            longitude=job.order.longitude, checklist=list(definition.checklist))


def _complete(job):
    fieldwork.job_complete(technician=job.technician, job_id=job.pk)


def test_wardrobe_redeems_both_vouchers_on_site(store, consumer, store_manager, technician, client_for):
    order = make_order(store=store, consumer=consumer, actor=store_manager)
    assert not Voucher.objects.filter(order=order).exists()  # the deposit is not paid yet
    pay.pay_due_installments(order)
    assert order.state == "measuring:ready"
    measuring = voucher_of(order, "measuring")

    job = book_visit(order, code="measuring")
    check_in(job)
    job.refresh_from_db()
    _do_site_work(job)
    with pytest.raises(GuardFailed, match="voucher"):
        _complete(job)
    # the technician checked out without redeeming: the job is over, the store redeems it instead
    response = client_for(technician).post("/api/v1/vouchers/redeem/",
                                           {"code": code_of(measuring), "job": job.pk}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "job_not_active"
    response = client_for(store_manager).post("/api/v1/vouchers/redeem/", {"code": code_of(measuring)},
                                              format="json")
    assert response.status_code == 200, response.content
    _complete(job)
    order.refresh_from_db()
    assert order.state == "design:ready"

    services.stage_submit(stage=stage_of(order, "design"), actor=store_manager, notes="draft")
    services.stage_approve(stage=stage_of(order, "design"), actor=consumer)
    assert not Voucher.objects.filter(order=order, stage__definition__code="installation").exists()
    pay.pay_due_installments(order)  # design 30% after + installation 50% before
    assert order.state == "installation:ready"
    installation = voucher_of(order, "installation")

    job = book_visit(order, code="installation")
    check_in(job)
    job.refresh_from_db()
    response = client_for(technician).post("/api/v1/vouchers/redeem/",
                                           {"code": code_of(installation), "job": job.pk}, format="json")
    assert response.status_code == 200, response.content
    _do_site_work(job)
    _complete(job)
    order.refresh_from_db()
    assert order.state == "acceptance:ready"
    kinds = list(OrderEvent.objects.filter(order=order, kind__startswith="voucher.").values_list("kind", flat=True))
    assert kinds == ["voucher.issued", "voucher.redeemed", "voucher.issued", "voucher.redeemed"]
