"""Verify the hash chain of order event logs: `manage.py verify_event_chain [--order ID]`.

Prints the first broken link of each broken order (its seq, kind and what does not match) and
exits with status 1 when any chain is broken, 0 when all are intact.
"""

from django.core.management.base import BaseCommand, CommandError

from workflows.events import event_hash, verify_chain
from workflows.models import OrderEvent, ServiceOrder


def describe(event: OrderEvent) -> str:
    expected_prev = (OrderEvent.objects.filter(order_id=event.order_id, seq__lt=event.seq)
                     .order_by("-seq").values_list("hash", flat=True).first() or "")
    if event.prev_hash != expected_prev:
        return "its prev_hash does not match the previous event's hash (an event was removed or re-linked)"
    if event_hash(event) != event.hash:
        return "its content does not match its hash (the event was edited)"
    return "its sequence number is out of order (an event is missing)"


class Command(BaseCommand):
    help = "Verify the tamper-evident hash chain of order events; exit 1 at the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--order", type=int, help="Only this order (its id).")

    def handle(self, *args, **options):
        order_id = options.get("order")
        if order_id is not None:
            if not ServiceOrder.objects.filter(pk=order_id).exists():
                raise CommandError(f"No order with id {order_id}.")
            order_ids = [order_id]
        else:
            order_ids = OrderEvent.objects.values_list("order_id", flat=True).distinct().order_by("order_id")
        checked = broken = 0
        for oid in order_ids.iterator() if hasattr(order_ids, "iterator") else order_ids:
            checked += 1
            bad = verify_chain(oid)
            if bad is not None:
                broken += 1
                self.stdout.write(self.style.ERROR(
                    f"order {oid}: chain broken at seq {bad.seq} (event {bad.pk}, {bad.kind}): {describe(bad)}"))
        if broken:
            raise CommandError(f"{broken} of {checked} order event chains are broken.", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"{checked} order event chain(s) intact."))
