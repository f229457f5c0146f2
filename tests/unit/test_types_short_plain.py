"""parse_decimal's short path for plain strings gives what the general path gives: the same
value, the same digits and exponent, the same error."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.types import parse_decimal


def _general(text: str) -> Decimal | str:
    """The general path: the string's Decimal through the bounds every Decimal meets."""
    try:
        return parse_decimal(Decimal(text.strip()))
    except ValueError as exc:
        return f"error: {exc}"


def _parsed(text: str) -> Decimal | str:
    try:
        return parse_decimal(text)
    except ValueError as exc:
        return f"error: {exc}"


def _same(text: str) -> None:
    short, general = _parsed(text), _general(text)
    if isinstance(short, str) or isinstance(general, str):
        assert short == general
    else:
        assert short.as_tuple() == general.as_tuple()


@pytest.mark.parametrize(
    "text",
    [
        "27.05",
        "-27.05",
        "+1",
        ".5",
        "5.",
        "007.50",
        " 10.50 ",
        "0",
        "-0.00",
        "0.000000000000000000000000000000000",
        "1" * 29,
        "1" * 30,
        "9" * 31,
        "-" + "9" * 30,
        "0." + "1" * 29,
        "0." + "1" * 30,
        "." + "1" * 30,
        "-." + "1" * 30,
        "1." + "0" * 29,
        "1." + "0" * 30,
        "1." + "0" * 40,
        "1" * 20 + "." + "1" * 20,
        "1" * 41,
    ],
)
def test_short_plain_strings_parse_as_before(text: str) -> None:
    _same(text)


@given(
    sign=st.sampled_from(["", "-", "+"]),
    whole=st.text("0123456789", max_size=35),
    point=st.booleans(),
    places=st.text("0123456789", max_size=35),
)
def test_plain_strings_parse_as_before(sign: str, whole: str, point: bool, places: str) -> None:
    text = sign + whole + ("." + places if point else "")
    if not whole and not (point and places):
        return  # not a number: the same message either way, and no Decimal to compare
    _same(text)
