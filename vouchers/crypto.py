"""Keys for voucher codes at rest: a keyed lookup hash and symmetric encryption.

The database never holds a redeemable code: rows are found by HMAC-SHA256(lookup key, code)
and the code itself is Fernet-encrypted so the consumer can see it again. Both keys come from
settings (VOUCHER_LOOKUP_KEY, VOUCHER_ENCRYPTION_KEY); when a setting is empty (local, test)
the key is derived from SECRET_KEY with HKDF, so development needs no extra configuration.
VOUCHER_ENCRYPTION_KEY may list several comma-separated Fernet keys (newest first) to rotate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _derive(info: bytes, secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key.encode())


def lookup_key() -> bytes:
    configured = getattr(settings, "VOUCHER_LOOKUP_KEY", "")
    return configured.encode() if configured else _derive(b"vouchers.lookup-key.v1", settings.SECRET_KEY)


def _fernet() -> MultiFernet:
    return _fernet_for(getattr(settings, "VOUCHER_ENCRYPTION_KEY", ""), settings.SECRET_KEY)


@lru_cache(maxsize=4)
def _fernet_for(configured: str, secret_key: str) -> MultiFernet:
    """Built once per key setting (every voucher shown decrypts its code; HKDF per call added up)."""
    keys = [k.strip() for k in configured.split(",") if k.strip()] if configured else []
    if not keys:
        keys = [base64.urlsafe_b64encode(_derive(b"vouchers.encryption-key.v1", secret_key)).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def lookup_hash(code: str) -> str:
    """HMAC-SHA256 of the normalized code, hex."""
    return hmac.new(lookup_key(), code.encode(), hashlib.sha256).hexdigest()


def hashes_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def encrypt(code: str) -> str:
    return _fernet().encrypt(code.encode()).decode()


def decrypt(token: str) -> str | None:
    """The code, or None when the key that encrypted it is gone."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None
