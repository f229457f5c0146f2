"""The Amount parser: every decimal string either is refused with a ValueError or reads as a
bounded, exactly equal Decimal whose plain notation reads back as the same value."""

from __future__ import annotations

import dataclasses
from decimal import Context, Decimal
from typing import Any

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
    keyword_maker,
    parse_decimal,
    record_maker,
    slot_function,
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


@given(st.decimals(allow_nan=False, allow_infinity=False))
@example(Decimal("1" * 30))  # 30 integer digits: too large, 31 characters
@example(Decimal("-" + "9" * 29))
@example(Decimal("0." + "1" * 29))  # 31 characters, 29 places
@example(Decimal("1." + "0" * 29))
@example(Decimal("0.000001"))  # the smallest str() writes plainly
@example(Decimal("1E-7"))
@example(Decimal("1E+2"))
@example(Decimal("-0.00"))
@example(Decimal("123.4500"))
def test_a_decimal_reads_as_its_string_does(value: Decimal) -> None:
    """The Decimal branch's shortcut (its str() when short and plain) and the string branch
    give the same digits and exponent, or both refuse."""
    try:
        from_text = parse_decimal(str(value))
    except ValueError:
        with pytest.raises(ValueError):
            parse_decimal(value)
        return
    assert parse_decimal(value).as_tuple() == from_text.as_tuple()


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


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Frozen:
    a: int
    b: str = "b"

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("negative")


@dataclasses.dataclass(kw_only=True, slots=True)
class _Open:
    a: int
    b: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Child(_Frozen):
    c: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Unslotted:
    a: int


@pytest.mark.parametrize(
    ("cls", "reason"),
    [
        (_Unslotted, "not a slotted dataclass"),
        (_Frozen, "has a __post_init__"),  # which the maker would skip
        (_Child, "has a __post_init__"),  # its parent's
    ],
)
def test_record_maker_refuses_what_it_cannot_make(cls: type[Any], reason: str) -> None:
    with pytest.raises(TypeError, match=reason):
        record_maker(cls)


def test_record_maker_makes_a_record_of_exactly_its_fields_values() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Pair:
        a: int
        b: str

    make = record_maker(Pair)
    assert make((1, "x")) == Pair(a=1, b="x")
    with pytest.raises(TypeError, match="takes 2 values, not 1"):
        make((1,))


@pytest.mark.parametrize(
    ("cls", "values"),
    [(_Frozen, {"a": 1, "b": "x"}), (_Open, {"a": 2, "b": [3]}), (_Child, {"a": 3, "c": (4,)})],
)
def test_a_slot_function_makes_what_the_constructor_makes(
    cls: type[Any], values: dict[str, Any]
) -> None:
    """Of the class itself, not of the builder it is stored through: no ``__dict__``, the
    same fields, the same objects, and a frozen one still refuses changes."""
    names = [f.name for f in dataclasses.fields(cls)]
    made = keyword_maker(cls)(**values) if cls is not _Open else _open_maker(**values)
    expected = cls(**values)
    assert type(made) is cls and made == expected
    assert not hasattr(made, "__dict__")
    assert all(getattr(made, n) is getattr(expected, n) or n not in values for n in names)
    if cls is not _Open:
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.a = 9
        with pytest.raises(dataclasses.FrozenInstanceError):
            del made.a
    else:
        made.a = 9  # an open class is made as it is: nothing to restore
        assert made.a == 9


_open_maker = slot_function(_Open, ["*", "a", "b"], ["a", "b"])


def test_a_slot_function_runs_post_init_on_the_class_itself() -> None:
    seen: list[type[Any]] = []

    @dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
    class Seen:
        a: int

        def __post_init__(self) -> None:
            seen.append(type(self))
            if self.a < 0:
                raise ValueError("negative")

    make = keyword_maker(Seen)
    assert make(a=1) == Seen(a=1)
    assert seen == [Seen, Seen]
    with pytest.raises(ValueError, match="negative"):
        make(a=-1)
