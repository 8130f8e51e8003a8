"""Write operations of the payments app, by concern. The API, the provider notification endpoints, the
sandbox checkout page, the admin and the Celery tasks all call these.

- allocation: installments made on create, due when the engine reaches their stage
- checkout: paying an installment (a payment attempt, started at the provider)
- settlement: the provider's answer about a payment (captured, failed, pending)
- refunds: asked, sent, settled, asked again with back-off
- cancellation: the order's money on cancel, attempts nobody finished
- webhooks: provider notifications in
- accounts: each brand's accounts at Alipay / WeChat Pay
- reconciliation: asking the providers about open attempts, and a day's ledger against their answers

Every change has the same shape: lock the order (workflows.engine.lock_order), then the
installment, then the payment (then the refund); check the state; change it through the
django-fsm transition; append a ledger entry where money moved; record one order event
(payments/events.py); let the engine take the next step (engine.try_advance). Calls to the provider
happen outside those transactions.
"""

from payments.providers.base import ProviderUnavailable
from payments.services.accounts import account_fields_clean, payment_account_set
from payments.services.allocation import installments_allocate, installments_make_due
from payments.services.cancellation import installments_cancel, payment_expire
from payments.services.checkout import Payer, PayResult, available_channels, installment_pay, payment_ensure_started
from payments.services.reconciliation import (
    payment_reconcile,
    payments_query_pending,
    payments_reconcile,
    reconcile_day,
)
from payments.services.refunds import (
    payment_refund,
    payment_refund_unowed,
    refund_resend_delay,
    refund_settle,
    refund_submit,
    refunds_resubmit_stale,
)
from payments.services.revisions import (
    revision_accept,
    revision_decline,
    revision_preview,
    revision_propose,
    revision_split,
)
from payments.services.settlement import payment_capture, payment_fail, payment_mark_pending
from payments.services.webhooks import WebhookResult, sandbox_checkout_complete, webhook_receive

__all__ = [
    "PayResult", "Payer", "ProviderUnavailable", "WebhookResult", "account_fields_clean", "available_channels",
    "installment_pay", "installments_allocate", "payment_account_set", "payment_reconcile", "payments_query_pending",
    "payments_reconcile", "reconcile_day",
    "installments_cancel", "installments_make_due", "payment_capture", "payment_ensure_started", "payment_expire",
    "payment_fail", "payment_mark_pending", "payment_refund", "payment_refund_unowed", "refund_resend_delay",
    "refund_settle", "refund_submit", "revision_accept", "revision_decline", "revision_preview", "revision_propose",
    "revision_split", "refunds_resubmit_stale", "sandbox_checkout_complete", "webhook_receive",
]
