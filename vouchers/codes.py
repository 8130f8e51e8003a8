"""Voucher codes: 80 random bits in Crockford base32, grouped, with a Crockford mod-37 check symbol.

A code is 16 data symbols (16 x 5 = 80 bits from `secrets`) followed by one check symbol, shown
as ``XXXX-XXXX-XXXX-XXXX-C``. People type codes badly, so input is normalized first (case,
O -> 0, I/L -> 1, dashes and spaces dropped) and the check symbol is verified before the database
is asked: any single mistyped symbol fails the check, because 37 is prime and does not divide
any single-symbol change of the value.
"""

from __future__ import annotations

import secrets

import segno

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CHECK_ALPHABET = ALPHABET + "*~$=U"  # the 37 Crockford check symbols
DATA_LENGTH = 16  # 80 bits
CODE_LENGTH = DATA_LENGTH + 1
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_DROP = str.maketrans("", "", "- \t\r\n_")


class InvalidCode(ValueError):
    """The text is not a well-formed voucher code (wrong length, symbol or check symbol)."""


def check_symbol(data: str) -> str:
    value = 0
    for ch in data:
        value = value * 32 + _VALUES[ch]
    return CHECK_ALPHABET[value % 37]


def generate() -> str:
    """A new code in normalized form (17 symbols, no dashes)."""
    data = "".join(secrets.choice(ALPHABET) for _ in range(DATA_LENGTH))
    return data + check_symbol(data)


def normalize(text: str) -> str:
    """The canonical form of what somebody typed or scanned; raises InvalidCode when malformed.

    Only string work happens here: no database access, so malformed input costs nothing."""
    if not isinstance(text, str) or len(text) > 64:
        raise InvalidCode("not a voucher code")
    code = text.upper().translate(_DROP).translate(_TRANSLATE)
    if len(code) != CODE_LENGTH:
        raise InvalidCode("wrong length")
    data, check = code[:DATA_LENGTH], code[DATA_LENGTH]
    if any(ch not in _VALUES for ch in data) or check not in CHECK_ALPHABET:
        raise InvalidCode("unknown symbol")
    if check_symbol(data) != check:
        raise InvalidCode("check symbol does not match")
    return code


def is_valid(text: str) -> bool:
    try:
        normalize(text)
    except InvalidCode:
        return False
    return True


def display(code: str) -> str:
    """``XXXX-XXXX-XXXX-XXXX-C`` for people to read and type."""
    groups = [code[i:i + 4] for i in range(0, DATA_LENGTH, 4)]
    return "-".join([*groups, code[DATA_LENGTH:]])


def qr(code: str) -> segno.QRCode:
    """The code as the QR code the consumer shows: the bare code (no link, no payload) in a full QR code, error level
    M or better (version 1; version 2 for the check symbols ~ and =, which are not in QR's alphanumeric set), to be
    drawn with the standard 4-module quiet zone. Never a Micro QR code, which `segno.make` picks for 17 symbols:
    jsQR and browsers' BarcodeDetector do not read Micro QR, nor do many phone scanners."""
    return segno.make_qr(code, error="m")
