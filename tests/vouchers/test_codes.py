"""Voucher codes: enough randomness, a human-typable alphabet, and typos caught before any query."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vouchers import codes

random_codes = st.builds(lambda _: codes.generate(), st.integers())
data_parts = st.text(alphabet=codes.ALPHABET, min_size=codes.DATA_LENGTH, max_size=codes.DATA_LENGTH)


def test_a_code_carries_80_random_bits_and_a_check_symbol():
    code = codes.generate()
    assert len(code) == codes.DATA_LENGTH + 1
    assert codes.DATA_LENGTH * 5 >= 80
    assert all(ch in codes.ALPHABET for ch in code[:-1])
    assert code[-1] == codes.check_symbol(code[:-1])
    assert len({codes.generate() for _ in range(2000)}) == 2000


def test_display_groups_the_code_for_people():
    code = "0123456789ABCDEF" + codes.check_symbol("0123456789ABCDEF")
    assert codes.display(code) == f"0123-4567-89AB-CDEF-{code[-1]}"


@given(data_parts)
def test_any_single_symbol_typo_is_caught(data):
    code = data + codes.check_symbol(data)
    assert codes.normalize(code) == code
    for i in range(len(code)):
        alphabet = codes.CHECK_ALPHABET if i == codes.DATA_LENGTH else codes.ALPHABET
        for wrong in alphabet:
            if wrong == code[i]:
                continue
            typo = code[:i] + wrong + code[i + 1:]
            with pytest.raises(codes.InvalidCode):
                codes.normalize(typo)


@given(random_codes, st.data())
def test_how_people_type_a_code_normalizes_back_to_it(code, data):
    typed = codes.display(code)
    typed = data.draw(st.sampled_from([typed, typed.lower(), typed.replace("-", " "), typed.replace("-", ""),
                                       f"  {typed}  "]))
    # Look-alike letters people use for digits.
    typed = typed.replace("0", data.draw(st.sampled_from(["0", "O", "o"])))
    typed = typed.replace("1", data.draw(st.sampled_from(["1", "I", "i", "L", "l"])))
    assert codes.normalize(typed) == code
    assert codes.normalize(codes.display(codes.normalize(typed))) == code


@pytest.mark.parametrize("text", ["", "ABC", "x" * 200, "0123-4567-89AB-CDEF", "0123-4567-89AB-CDEU-0",
                                  "0123-4567-89AB-CDEF-#", 12345, None])
def test_malformed_input_is_refused_without_the_database(text, django_assert_num_queries):
    with pytest.raises(codes.InvalidCode):
        codes.normalize(text)


def test_check_symbol_is_verified_before_the_database_is_asked(db, django_assert_num_queries):
    code = codes.generate()
    bad = code[:-1] + next(ch for ch in codes.CHECK_ALPHABET if ch != code[-1])
    with django_assert_num_queries(0):
        assert not codes.is_valid(bad)


@given(random_codes)
def test_the_qr_code_is_a_full_qr_code_holding_the_bare_code(code):
    """segno.make would draw 17 symbols as a Micro QR code (M4), which jsQR, BarcodeDetector and many phone
    scanners do not read: the consumer's QR is a full QR code of the bare code, at level M or better, version 1
    (2 for the check symbols ~ and =); tests/admin/test_redeem_scan_browser.py reads it with a camera."""
    qr = codes.qr(code)
    assert not qr.is_micro
    assert qr.version == (2 if code[-1] in "~=" else 1) and qr.error in ("M", "Q", "H")
    assert qr.symbol_size(scale=1, border=4) == ((29, 29) if qr.version == 1 else (33, 33))


def test_a_check_symbol_outside_qr_alphanumerics_still_makes_a_full_qr_code():
    data = next(d for d in ("0" * 14 + a + b for a in codes.ALPHABET for b in codes.ALPHABET)
                if codes.check_symbol(d) in "~=")
    assert codes.qr(data + codes.check_symbol(data)).designator.startswith("2-")
