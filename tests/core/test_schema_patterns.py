"""The request schema says which texts the server refuses as blank: its pattern must agree with DRF, which trims
with Python's str.strip(). `\\S` did not: JSON Schema regexes are ECMA-262's, whose whitespace is not Python's (the
fuzzer's reject reason "\\u0085" matched `\\S` and was refused as blank)."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from core.schema import NOT_BLANK

# Python's whitespace, ECMA-262's (U+FEFF is space there only), and a few ordinary characters.
CANDIDATES = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\ufeff", "\u200b", "a", "0", "-", "\u4e2d"]


def test_the_pattern_means_the_same_in_every_regex_dialect():
    """Only explicit code points, no class shorthand whose meaning differs between Python's re (what the server
    and this test use) and ECMA-262 (what JSON Schema and the fuzzer's generator read)."""
    assert not re.search(r"\\[sSwWdDbB]", NOT_BLANK)
    assert re.fullmatch(r"\[\^(\\u[0-9a-f]{4})+\]", NOT_BLANK)


@pytest.mark.parametrize("text", CANDIDATES, ids=[f"U+{ord(c):04X}" for c in CANDIDATES])
def test_the_not_blank_pattern_refuses_exactly_what_drf_refuses_as_blank(text):
    field = serializers.CharField()
    for value in (text, f" {text} ", text * 3):
        try:
            field.run_validation(value)
            accepted = True
        except serializers.ValidationError:
            accepted = False
        assert accepted == bool(re.search(NOT_BLANK, value)), repr(value)


@pytest.mark.django_db
def test_the_published_schema_uses_it_for_every_trimmed_required_text():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    patterns = [prop.get("pattern") for component in schema["components"]["schemas"].values()
                for prop in component.get("properties", {}).values() if isinstance(prop, dict)]
    assert NOT_BLANK in patterns  # e.g. the reject reason, the cancel reason
    assert r"\S" not in patterns
