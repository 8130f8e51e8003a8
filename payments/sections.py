"""What payments adds to the order detail (registered in PaymentsConfig.ready). Reads only the
prefetched rows: the detail costs the same number of queries for 1 or 30 orders."""

from django.db.models import Prefetch

from payments.models import Installment, LedgerEntry
from payments.selectors import money_summary_from_rows

INSTALLMENTS_ATTR = "payments_installments"
LEDGER_ATTR = "payments_ledger"

PREFETCH = (
    Prefetch("installments", queryset=Installment.objects.select_related("stage__definition")
             .order_by("position", "pk"), to_attr=INSTALLMENTS_ATTR),
    Prefetch("ledger_entries", queryset=LedgerEntry.objects.order_by("pk"), to_attr=LEDGER_ATTR),
)


def _installments(order):
    rows = getattr(order, INSTALLMENTS_ATTR, None)
    return rows if rows is not None else list(order.installments.select_related("stage__definition"))


def serialize_installments(order, request=None) -> list[dict]:
    return [{
        "id": i.pk, "stage": i.stage_id, "stage_code": i.stage.definition.code, "amount": str(i.amount),
        "currency": i.currency, "timing": i.timing, "state": i.state,
        "due_at": i.due_at.isoformat() if i.due_at else None,
        "paid_at": i.paid_at.isoformat() if i.paid_at else None,
    } for i in _installments(order)]


def serialize_money(order, request=None) -> dict:
    entries = getattr(order, LEDGER_ATTR, None)
    if entries is None:
        entries = list(order.ledger_entries.all())
    return money_summary_from_rows(order, _installments(order), entries).as_dict()
