"""Each brand's own accounts at the payment providers, and the daily reconciliation's record.

Models of the payments app (payments/models.py imports them, so Django finds them there). A brand (merchant) has at
most one account per provider; an order's payments go to its brand's account, and the provider's notifications come
back to a URL naming the account (`/api/v1/payments/notify/<provider>/<account id>/`), so each is verified with that
account's keys. Secrets (private keys, the WeChat Pay APIv3 key) are encrypted at rest (core.crypto, key
PAYMENT_ACCOUNT_ENCRYPTION_KEY) and never shown back: a hint (last 4 characters, or of a key's fingerprint) tells
a person which one is set.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.crypto import SecretBox
from tenancy.models import Merchant
from tenancy.scoping import TenantScope

_secrets = SecretBox("PAYMENT_ACCOUNT_ENCRYPTION_KEY", b"payments.account-secrets.v1")


def key_fingerprint_hint(private_key_pem: str) -> str:
    """The last 4 hex digits of the SHA-256 of the key's public half (what the provider's console shows a person
    is their public key: the hint lets them tell which key is set without showing any of the private one)."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[-4:]


class PaymentAccount(models.Model):
    class Provider(models.TextChoices):
        ALIPAY = "alipay", _("Alipay")
        WECHATPAY = "wechatpay", _("WeChat Pay")

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payment_accounts",
                                 verbose_name=_("brand"))
    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices)
    active = models.BooleanField(_("active"), default=True, help_text=_(
        "Offered for new payments. Notifications and refunds of payments already made still use the account."))
    app_id = models.CharField(_("app id"), max_length=64, help_text=_(
        "Alipay: the app's APPID on the open platform. WeChat Pay: the AppID (official account or mini program) "
        "bound to the merchant number."))
    mch_id = models.CharField(_("merchant number"), max_length=32, blank=True,
                              help_text=_("WeChat Pay only: the merchant number (mchid)."))
    merchant_serial_no = models.CharField(_("merchant certificate serial number"), max_length=64, blank=True,
                                          help_text=_("WeChat Pay only: the serial number of the merchant API "
                                                      "certificate whose private key signs requests."))
    private_key_encrypted = models.TextField(blank=True, editable=False)
    private_key_hint = models.CharField(max_length=8, blank=True, editable=False)
    apiv3_key_encrypted = models.TextField(blank=True, editable=False)
    apiv3_key_hint = models.CharField(max_length=8, blank=True, editable=False)
    provider_public_key = models.TextField(_("provider public key"), help_text=_(
        "PEM. Alipay: the Alipay public key of the app. WeChat Pay: the WeChat Pay platform public key."))
    provider_public_key_id = models.CharField(_("platform public key id"), max_length=64, blank=True,
                                              help_text=_("WeChat Pay only: the public key's id (PUB_KEY_ID_...)."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The brand's admin sees and edits its own accounts; store managers do not see them.
    tenant_scope = TenantScope(merchant="merchant")

    class Meta:
        ordering = ["merchant_id", "provider"]
        verbose_name = _("payment account")
        verbose_name_plural = _("payment accounts")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "provider"], name="one_payment_account_per_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.mch_id or self.app_id} ({self.merchant_id})"

    def notify_url(self) -> str:
        """Where the provider sends this account's notifications (absolute with SITE_URL, which real providers
        need)."""
        path = reverse(f"payment-notify-{self.provider}", kwargs={"account_id": self.pk})
        return f"{settings.SITE_URL.rstrip('/')}{path}"

    # --- secrets: write-only from outside ---------------------------------------------------------

    def set_private_key(self, pem: str) -> None:
        self.private_key_encrypted = _secrets.encrypt(pem)
        self.private_key_hint = key_fingerprint_hint(pem)

    def private_key(self) -> str:
        return (_secrets.decrypt(self.private_key_encrypted) or "") if self.private_key_encrypted else ""

    def set_apiv3_key(self, key: str) -> None:
        self.apiv3_key_encrypted = _secrets.encrypt(key)
        self.apiv3_key_hint = key[-4:]

    def apiv3_key(self) -> str:
        return (_secrets.decrypt(self.apiv3_key_encrypted) or "") if self.apiv3_key_encrypted else ""


class ReconciliationRun(models.Model):
    """One comparison of a day's ledger with what the providers say (`manage.py reconcile_payments`, and the
    periodic job for yesterday). Platform operators read it in the admin; each difference is also on its order's
    record (payment.reconciliation_difference)."""

    day = models.DateField(_("day"), db_index=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    payments_checked = models.PositiveIntegerField(default=0)
    refunds_checked = models.PositiveIntegerField(default=0)
    # How many the provider could not answer (unreachable): they were not compared.
    unanswered = models.PositiveIntegerField(default=0)
    differences = models.JSONField(default=list, blank=True)
    difference_count = models.PositiveIntegerField(_("differences"), default=0)

    # No role path: only platform operators see it (it spans brands).
    tenant_scope = TenantScope()

    class Meta:
        ordering = ["-day", "-pk"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")

    def __str__(self) -> str:
        return f"{self.day}: {self.difference_count} differences"
