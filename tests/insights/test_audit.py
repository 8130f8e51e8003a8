"""The event log is append-only and tamper-evident: the chain check finds an edited event at its seq;
on PostgreSQL the database refuses any UPDATE or DELETE of an event."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from tests.factories.workflows import make_order
from workflows.models import OrderEvent


@pytest.fixture
def order(store, consumer):
    return make_order(store=store, consumer=consumer)


def _run(*args):
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_event_chain", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_intact_chain_passes(order):
    assert OrderEvent.objects.filter(order=order).count() >= 2
    code, out = _run("--order", str(order.pk))
    assert code == 0 and "intact" in out
    assert _run()[0] == 0


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL refuses the edit itself (below)")
def test_edited_event_is_found_at_its_seq(order, store, consumer):
    other = make_order(store=store, consumer=consumer)
    events = list(OrderEvent.objects.filter(order=order).order_by("seq"))
    assert len(events) >= 2
    target = events[1]
    OrderEvent.objects.filter(pk=target.pk).update(payload={**target.payload, "amount": "1.00"})

    code, out = _run("--order", str(order.pk))
    assert code == 1
    assert f"order {order.pk}: chain broken at seq {target.seq}" in out
    assert "edited" in out
    assert _run("--order", str(other.pk))[0] == 0
    code, out = _run()
    assert code == 1 and "1 of 2 order event chains are broken" in out


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL refuses the edit itself (below)")
def test_relinked_event_is_found(order):
    """A tamperer who also rewrites the edited event's own hash is caught by the next link."""
    from workflows.events import event_hash

    events = list(OrderEvent.objects.filter(order=order).order_by("seq"))
    first = events[0]
    first.payload = {**first.payload, "total_amount": "1.00"}
    first.hash = event_hash(first)
    OrderEvent.objects.filter(pk=first.pk).update(payload=first.payload, hash=first.hash)
    code, out = _run("--order", str(order.pk))
    assert code == 1 and f"seq {events[1].seq}" in out and "prev_hash" in out


def test_unknown_order_is_an_error(db):
    code, out = _run("--order", "999999")
    assert code != 0 and "No order" in out


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete_of_events(order):
    event = OrderEvent.objects.filter(order=order).first()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        OrderEvent.objects.filter(pk=event.pk).update(kind="tampered")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM workflows_orderevent WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.kind != "tampered"
    assert _run("--order", str(order.pk))[0] == 0


def test_event_admin_is_read_only(client, operator, order):
    event = OrderEvent.objects.filter(order=order).first()
    client.force_login(operator)
    assert client.get("/admin/workflows/orderevent/").status_code == 200
    assert client.get(f"/admin/workflows/orderevent/{event.pk}/change/").status_code == 200
    r = client.post(f"/admin/workflows/orderevent/{event.pk}/change/", {"kind": "x"})
    assert r.status_code == 403
    assert client.post(f"/admin/workflows/orderevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/workflows/orderevent/add/").status_code == 403
    event.refresh_from_db()
    assert event.kind != "x"
