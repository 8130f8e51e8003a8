"""Brands' accounts at the payment providers: set from the admin (platform operators, the brand's admin) and from
`manage.py payment_account_set` (automation), both through payment_account_set.

Keys are checked before anything is stored (a key the SDK cannot load would only fail at the first payment), and
kept in one form: private keys as PKCS#8 PEM, public keys as SubjectPublicKeyInfo PEM (Alipay's key tool hands out
bare base64: it is accepted and wrapped).
"""

from __future__ import annotations

import re
import textwrap

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from payments.models import PaymentAccount
from tenancy import policy
from tenancy.models import Merchant

Provider = PaymentAccount.Provider
MIN_KEY_BITS = 2048
# What each provider's account needs (field: required); secrets are given in full or kept.
REQUIRED = {
    Provider.ALIPAY: ("app_id", "provider_public_key"),
    Provider.WECHATPAY: ("app_id", "mch_id", "merchant_serial_no", "provider_public_key", "provider_public_key_id"),
}


def _pem(text: str, label: str) -> str:
    """PEM as given, or bare base64 (Alipay's key tool) wrapped in `label`."""
    text = (text or "").strip()
    if "-----BEGIN" in text:
        return text
    body = re.sub(r"\s+", "", text)
    return f"-----BEGIN {label}-----\n" + "\n".join(textwrap.wrap(body, 64)) + f"\n-----END {label}-----\n"


def private_key_clean(text: str) -> str:
    """An RSA private key of 2048 bits or more, as PKCS#8 PEM; DomainError otherwise."""
    key = None
    for label in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        try:
            key = serialization.load_pem_private_key(_pem(text, label).encode(), password=None)
            break
        except (ValueError, TypeError):
            continue
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_KEY_BITS:
        raise DomainError(_("Give an RSA private key (2048 bits or more) in PEM, without a password."),
                          code="invalid", errors={"private_key": [_("Not a usable RSA private key.")]})
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_key_clean(text: str, field: str = "provider_public_key") -> str:
    try:
        key = serialization.load_pem_public_key(_pem(text, "PUBLIC KEY").encode())
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_KEY_BITS:
        raise DomainError(_("Give the provider's RSA public key (2048 bits or more) in PEM."), code="invalid",
                          errors={field: [_("Not a usable RSA public key.")]})
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def account_fields_clean(provider: str, fields: dict, *, existing: PaymentAccount | None = None) -> dict:
    """The account's fields checked and normalised. `private_key` / `apiv3_key` empty or absent keep the stored
    ones (there must be one). DomainError with `errors` per field otherwise."""
    if provider not in REQUIRED:
        raise DomainError(_("Unknown provider."), code="invalid", errors={"provider": [_("alipay or wechatpay.")]})
    clean = {k: (str(v).strip() if isinstance(v, str) else v) for k, v in fields.items() if v is not None}
    errors: dict[str, list[str]] = {}
    for name in REQUIRED[provider]:
        if not clean.get(name):
            errors[name] = [_("Required for %(provider)s.") % {"provider": provider}]
    if provider == Provider.WECHATPAY and clean.get("mch_id") and not clean["mch_id"].isdigit():
        errors["mch_id"] = [_("A WeChat Pay merchant number is digits.")]
    secrets_needed = ["private_key"] + (["apiv3_key"] if provider == Provider.WECHATPAY else [])
    for name in secrets_needed:
        if not clean.get(name) and not (existing and getattr(existing, f"{name}_encrypted")):
            errors[name] = [_("Required: nothing is stored yet.")]
    apiv3 = clean.get("apiv3_key")
    if provider == Provider.WECHATPAY and apiv3 and len(apiv3.encode()) != 32:
        errors["apiv3_key"] = [_("The APIv3 key is 32 characters.")]
    for name, check in (("private_key", private_key_clean), ("provider_public_key", public_key_clean)):
        if clean.get(name) and name not in errors:
            try:
                clean[name] = check(clean[name])
            except DomainError as exc:
                errors.update(exc.extra["errors"])
    if errors:
        raise DomainError(_("The payment account is not complete or not valid."), code="invalid", errors=errors)
    if provider == Provider.ALIPAY:  # fields of the other provider stay empty
        for name in ("mch_id", "merchant_serial_no", "provider_public_key_id", "apiv3_key"):
            clean.pop(name, None)
    return clean


def payment_account_set(*, merchant: Merchant, provider: str, actor=None, **fields) -> tuple[PaymentAccount, bool]:
    """Create or replace the brand's account at `provider` (one per provider: replacing keeps its id, which the
    notification URLs registered at the provider name). `actor` None: the system (the management command)."""
    if actor is not None:
        policy.require(actor, "payment_account.manage")
        if not getattr(actor, "is_operator", False) and actor.merchant_id != merchant.pk:
            raise DomainError(_("You may set your own brand's accounts only."), code="permission_denied",
                              status_code=403)
    with transaction.atomic():
        account = (PaymentAccount.objects.select_for_update().filter(merchant=merchant, provider=provider).first()
                   or PaymentAccount(merchant=merchant, provider=provider))
        clean = account_fields_clean(provider, fields, existing=account if account.pk else None)
        created = account.pk is None
        private_key, apiv3_key = clean.pop("private_key", ""), clean.pop("apiv3_key", "")
        for name, value in clean.items():
            setattr(account, name, value)
        if private_key:
            account.set_private_key(private_key)
        if apiv3_key:
            account.set_apiv3_key(apiv3_key)
        account.save()
    return account, created
