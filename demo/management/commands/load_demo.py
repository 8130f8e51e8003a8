from django.core.management.base import BaseCommand

from demo.builder import load_demo


class Command(BaseCommand):
    help = "Load the demo tenants, accounts, workflows and orders in every stage (idempotent)."

    def handle(self, *args, **options):
        from notifications.services import tracking_url

        result = load_demo()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {len(result['created'])} orders created, {len(result['orders'])} demo orders in all."
            )
        )
        for order in sorted(result["orders"], key=lambda o: o.number):
            self.stdout.write(f"  {order.number}  {order.state:32}  tracking: {tracking_url(order)}")
