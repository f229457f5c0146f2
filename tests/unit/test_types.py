"""The Amount parser: every decimal string either is refused with a ValueError or reads as a
bounded, exactly equal Decimal whose plain notation reads back as the same value."""

from __future__ import annotations

import dataclasses
from decimal import Context, Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from rampwire.types import (
    MAX_AMOUNT_DIGITS,
    MAX_AMOUNT_INTEGER_DIGITS,
    MAX_AMOUNT_PLACES,
    Amount,
    format_decimal,
    parse_decimal,
    record_maker,
)

# Longest plain notation of an accepted value: sign, digits before and after the point, point.
MAX_PLAIN_LENGTH = 1 + MAX_AMOUNT_INTEGER_DIGITS + 1 + MAX_AMOUNT_PLACES

SPECIALS = ["NaN", "-NaN", "sNaN", "-sNaN", "Infinity", "-Infinity", "inf", "nan", "snan"]

decimal_texts = st.one_of(
    st.builds(
        lambda sign, digits, point, exponent: f"{sign}{digits[:point]}.{digits[point:]}{exponent}",
        st.sampled_from(["", "+", "-"]),
        st.text("0123456789", min_size=1, max_size=60),
        st.integers(0, 60),
        st.one_of(
            st.just(""),
            st.builds(
                lambda e, n: f"{e}{n}",
                st.sampled_from(["e", "E", "e+", "e-", "E-"]),
                st.integers(0, 10**7),
            ),
        ),
    ),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(SPECIALS),
    st.text(max_size=20),
)


@given(decimal_texts)
@example("1e999999")
@example("1e-999999")
@example("0e-999999")
@example("-0")
@example("-0.000")
@example("1" * 101)
def test_every_string_is_refused_or_reads_back_exactly(text: str) -> None:
    try:
        value = parse_decimal(text)
    except ValueError:
        return
    assert value.is_finite()
    assert value == Decimal(text.strip())  # never rounded
    assert not value.is_signed() or value < 0  # no negative zero
    plain = format_decimal(value)
    assert len(plain) <= MAX_PLAIN_LENGTH
    again = parse_decimal(plain)
    assert again == value and format_decimal(again) == plain


def _breaks_a_bound(value: Decimal) -> bool:
    if not value.is_finite():
        return True
    if value.is_zero():
        return False  # every zero reads as plain zero
    if abs(value) >= 10**MAX_AMOUNT_INTEGER_DIGITS:
        return True
    exact = value.normalize(Context(prec=1000))
    return exact.as_tuple().exponent < -MAX_AMOUNT_PLACES or (  # type: ignore[operator]
        len(exact.as_tuple().digits) > MAX_AMOUNT_DIGITS
    )


@given(st.decimals(allow_nan=True, allow_infinity=True))
@example(Decimal("sNaN"))
@example(Decimal("-0"))
def test_decimal_values_are_refused_exactly_when_they_break_a_bound(value: Decimal) -> None:
    try:
        parsed = parse_decimal(value)
    except ValueError:
        assert _breaks_a_bound(value)
        return
    assert not _breaks_a_bound(value)
    assert parsed == value
    assert parse_decimal(format_decimal(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("NaN", "not a decimal number"),
        ("sNaN", "not a decimal number"),
        ("Infinity", "not a decimal number"),
        ("1e999999", "too large"),
        ("1e30", "too large"),
        ("1e-31", "digits after the point"),
        ("0." + "1" * 31, "digits after the point"),
        ("1" * 101, "not a decimal number"),
    ],
)
def test_refusals_say_which_rule(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_decimal(text)


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("-0", "0"),
        ("-0.00", "0.00"),
        ("0E+99", "0"),
        ("0e-99999", "0." + "0" * MAX_AMOUNT_PLACES),
        ("1.5E+2", "150"),
        ("1" + "." + "0" * 45, "1"),  # trailing zeros past the bound are dropped, exactly
        ("10.50", "10.50"),
    ],
)
def test_zeros_and_exponents_are_normalised(text: str, plain: str) -> None:
    assert format_decimal(parse_decimal(text)) == plain


@given(decimal_texts)
def test_the_pydantic_type_raises_only_validation_errors(text: str) -> None:
    try:
        TypeAdapter(Amount).validate_python(text)
    except ValidationError:
        pass


def test_record_maker_refuses_what_it_cannot_make() -> None:
    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True, slots=True)
    class Pair:
        a: int
        b: str

    for cls in (Unslotted, Checked):
        with pytest.raises(TypeError):
            record_maker(cls)
    make = record_maker(Pair)
    assert make((1, "x")) == Pair(a=1, b="x")
    with pytest.raises(TypeError):
        make((1,))
