"""Vouchers are issued when the consumer becomes entitled to a stage, once, and kept secret at rest."""

import importlib.util

import pytest
from django.db import connection

from tests.factories.vouchers import PAID_THEN_VISIT_WORKFLOW, make_voucher_order, voucher_of
from tests.factories.workflows import stage_of
from vouchers import codes, crypto
from vouchers.models import Voucher
from vouchers.services import voucher_code, voucher_issue
from workflows import engine
from workflows.models import OrderEvent


def test_stage_without_prior_installment_gets_its_voucher_at_once(order, consumer, store):
    voucher = voucher_of(order)
    stage = stage_of(order, "visit")
    assert order.state == "visit:ready"
    assert (voucher.state, voucher.stage_id, voucher.store_id, voucher.consumer_id) == (
        "issued", stage.pk, store.pk, consumer.pk)
    assert (voucher.valid_until - voucher.valid_from).days == stage.definition.voucher_valid_days == 30
    assert Voucher.objects.filter(order=order).count() == 1  # "accept" needs no voucher


def test_issue_is_recorded_as_an_event_without_the_code(order, voucher):
    event = OrderEvent.objects.get(order=order, kind="voucher.issued")
    assert event.payload["voucher"] == voucher.pk
    raw = crypto.decrypt(voucher.code_encrypted)
    flat = str(event.payload).upper()
    assert raw not in flat.replace("-", "") and codes.display(raw) not in flat


def test_at_most_one_live_voucher_per_stage(order, voucher):
    locked = engine.lock_order(order.pk)
    assert voucher_issue(order=locked, stage=stage_of(order, "visit")) is None
    assert Voucher.objects.filter(stage=voucher.stage).count() == 1


def test_code_is_encrypted_at_rest_and_found_by_keyed_hash(voucher):
    code = voucher_code(voucher)
    normalized = codes.normalize(code)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM vouchers_voucher WHERE id = %s", [voucher.pk])
        row = cursor.fetchone()
    text = " ".join(str(col) for col in row).upper()
    assert normalized not in text and code not in text and normalized[:-1] not in text
    assert voucher.lookup_hash == crypto.lookup_hash(normalized) != normalized
    assert voucher.last4 == normalized[-4:]


def _has_pay_helper() -> bool:
    if importlib.util.find_spec("tests.factories.payments") is None:
        return False
    return hasattr(importlib.import_module("tests.factories.payments"), "pay_due_installments")


@pytest.mark.skipif(not _has_pay_helper(), reason="tests.factories.payments.pay_due_installments is not there yet")
def test_stage_with_prior_installment_gets_its_voucher_once_paid(store, consumer):
    from tests.factories.payments import pay_due_installments

    order = make_voucher_order(store=store, consumer=consumer, definition=PAID_THEN_VISIT_WORKFLOW)
    assert not Voucher.objects.filter(order=order).exists()
    pay_due_installments(order)
    order.refresh_from_db()
    assert order.state.startswith("visit:")
    voucher = voucher_of(order)
    assert voucher.state == "issued"
