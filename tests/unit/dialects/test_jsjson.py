"""JSON.stringify, byte for byte (Node.js checks the same in tests/integration)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.dialects.jsjson import number, quote, stringify


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x/y", '"x/y"'),  # the slash stays
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x00\x01\x0b\x1f", '"\\u0000\\u0001\\u000b\\u001f"'),  # lower-case hex
        ("\x7f\u2028\u2029", '"\x7f\u2028\u2029"'),  # not escaped by JavaScript
        ("ñandú €5 😀", '"ñandú €5 😀"'),  # non-ASCII as itself
        ("\ud800", '"\\ud800"'),  # lone surrogates escaped, lower-case
        ("a\udfffb", '"a\\udfffb"'),
        ("\ud83d\ude00", '"😀"'),  # a pair written as two code points is one character
        ("\ude00\ud83d", '"\\ude00\\ud83d"'),  # the wrong order is two lone surrogates
    ],
)
def test_strings_are_quoted_as_javascript_does(value: str, expected: str) -> None:
    assert quote(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (-0.0, "0"),
        (1, "1"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (Decimal("100.50"), "100.5"),
        (Decimal("0.1"), "0.1"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000, "123456789012345680000"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.25e-10, "1.25e-10"),
        (2**53 + 1, "9007199254740992"),
        (float("nan"), "null"),
    ],
)
def test_numbers_are_written_as_javascript_does(value: float | Decimal, expected: str) -> None:
    assert number(value) == expected


def test_structures_have_no_whitespace_and_keep_key_order() -> None:
    value = {"z": [1, None, True, False], "a": {"b": "c"}}
    assert stringify(value) == b'{"z":[1,null,true,false],"a":{"b":"c"}}'


def test_unsupported_values_are_refused() -> None:
    with pytest.raises(TypeError):
        stringify({1: "x"})
    with pytest.raises(TypeError):
        stringify({"x": object()})


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8")))
def test_without_surrogates_it_matches_pythons_non_ascii_compact_form(value: str) -> None:
    # json.dumps(ensure_ascii=False) escapes exactly what JSON.stringify escapes, and no more
    assert quote(value) == json.dumps(value, ensure_ascii=False)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_read_back_to_the_same_double(value: float) -> None:
    assert float(number(value)) == value
