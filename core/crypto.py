"""Secrets at rest, for every app that keeps one (voucher codes, payment accounts' keys): Fernet encryption under
a key from settings, and keys derived from SECRET_KEY where a setting is empty (local, test).

Each purpose has its own setting and its own derivation label, so one key never protects two kinds of secret:
`SecretBox("VOUCHER_ENCRYPTION_KEY", b"vouchers.encryption-key.v1")`. A setting may list several comma-separated
Fernet keys, newest first, to rotate: tokens made under an older key still open, new ones use the newest.
Production settings require every such key from the environment (config/settings/production.py).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def derive_key(info: bytes, secret_key: str | None = None) -> bytes:
    """32 bytes derived from SECRET_KEY (HKDF-SHA256) for one purpose, named by `info`."""
    secret_key = settings.SECRET_KEY if secret_key is None else secret_key
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key.encode())


@lru_cache(maxsize=8)
def _fernet_for(configured: str, info: bytes, secret_key: str) -> MultiFernet:
    """Built once per key setting (every voucher shown decrypts its code; HKDF per call added up)."""
    keys = [k.strip() for k in configured.split(",") if k.strip()] if configured else []
    if not keys:
        keys = [base64.urlsafe_b64encode(derive_key(info, secret_key)).decode()]
    return MultiFernet([Fernet(k) for k in keys])


class SecretBox:
    """Encrypts short texts under the key named by a setting (derived from SECRET_KEY when it is empty)."""

    def __init__(self, setting: str, info: bytes):
        self.setting, self.info = setting, info

    def _fernet(self) -> MultiFernet:
        return _fernet_for(getattr(settings, self.setting, "") or "", self.info, settings.SECRET_KEY)

    def encrypt(self, text: str) -> str:
        return self._fernet().encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """The text, or None when the key that encrypted it is gone (or the token is not one of ours)."""
        try:
            return self._fernet().decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            return None
