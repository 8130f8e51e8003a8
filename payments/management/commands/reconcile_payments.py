"""Compare a day's payments and refunds at Alipay and WeChat Pay with the ledger and print each difference.

    manage.py reconcile_payments --date 2026-12-01

The day is in TIME_ZONE (Beijing time). Every payment and refund made that day is asked of its provider (query
API); the run is recorded for platform operators (admin: reconciliation runs) and each difference goes on its
order's record once. Nothing is settled: a difference is for a person.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from core import dates
from payments.services import payments_reconcile


class Command(BaseCommand):
    help = "Compare a day's payments and refunds with the providers' answers; print each difference."

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, help="The day, YYYY-MM-DD (in TIME_ZONE).")

    def handle(self, *args, **opts):
        try:
            day = date.fromisoformat(opts["date"])
        except ValueError:
            raise CommandError("--date: give a day as YYYY-MM-DD.") from None
        if not dates.in_range(day):
            raise CommandError(f"--date: {dates.OUT_OF_RANGE}")
        run = payments_reconcile(day=day)
        for diff in run.differences:
            what = f"refund {diff['refund']} of payment {diff['payment']}" if diff["refund"] else \
                f"payment {diff['payment']}"
            self.stdout.write(f"DIFFERENCE order {diff['order_number']} {what}: {diff['difference']} "
                              f"(ledger: {diff['ledger']}; provider: {diff['provider_says']})")
        self.stdout.write(f"{day}: {run.payments_checked} payments and {run.refunds_checked} refunds compared, "
                          f"{run.difference_count} differences, {run.unanswered} not answered (run {run.pk}).")
