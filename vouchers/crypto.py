"""Keys for voucher codes at rest: a keyed lookup hash and symmetric encryption.

The database never holds a redeemable code: rows are found by HMAC-SHA256(lookup key, code)
and the code itself is Fernet-encrypted (core.crypto) so the consumer can see it again. Both keys come from
settings (VOUCHER_LOOKUP_KEY, VOUCHER_ENCRYPTION_KEY); when a setting is empty (local, test)
the key is derived from SECRET_KEY with HKDF, so development needs no extra configuration.
VOUCHER_ENCRYPTION_KEY may list several comma-separated Fernet keys (newest first) to rotate.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

from core.crypto import SecretBox, derive_key

_codes = SecretBox("VOUCHER_ENCRYPTION_KEY", b"vouchers.encryption-key.v1")


def lookup_key() -> bytes:
    configured = getattr(settings, "VOUCHER_LOOKUP_KEY", "")
    return configured.encode() if configured else derive_key(b"vouchers.lookup-key.v1")


def lookup_hash(code: str) -> str:
    """HMAC-SHA256 of the normalized code, hex."""
    return hmac.new(lookup_key(), code.encode(), hashlib.sha256).hexdigest()


def hashes_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def encrypt(code: str) -> str:
    return _codes.encrypt(code)


def decrypt(token: str) -> str | None:
    """The code, or None when the key that encrypted it is gone."""
    return _codes.decrypt(token)
