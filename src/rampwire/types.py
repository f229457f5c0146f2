"""Shared type aliases: money, time and JSON.

Money is always :class:`~decimal.Decimal`; on the wire it is a string, never a binary float.
Times are timezone-aware and normalised to UTC; a naive datetime is refused where it is built.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any, TypeAlias, TypeVar, cast

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

JSONObject: TypeAlias = dict[str, Any]

# Bounds every amount and rate meets, wherever it comes from (API, provider, stored row), so
# that its plain notation stays small and reads back as the same value.
MAX_AMOUNT_DIGITS = 40  # significant digits
MAX_AMOUNT_INTEGER_DIGITS = 30  # digits before the point: below 10**30
MAX_AMOUNT_PLACES = 30  # digits after the point
MAX_DECIMAL_TEXT = 100  # characters of a decimal string, before it is parsed

_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# A plain number (no exponent) of at most this many characters has at most as many digits and,
# after its point, one fewer: within MAX_AMOUNT_DIGITS and MAX_AMOUNT_PLACES.
_SHORT_PLAIN = min(MAX_AMOUNT_PLACES + 1, MAX_AMOUNT_DIGITS)


def parse_decimal(value: object) -> Decimal:
    """Turn a decimal string (or an int, or a Decimal) into a finite, bounded Decimal.

    Floats are refused: ``0.1`` cannot be represented and money must not lose a cent. The value
    is bounded (:data:`MAX_AMOUNT_DIGITS`, :data:`MAX_AMOUNT_INTEGER_DIGITS`,
    :data:`MAX_AMOUNT_PLACES`) so that ``parse_decimal(format_decimal(x)) == x``: ``"1e999999"``
    would otherwise be written as a million digits. Zero loses its sign.
    """
    if isinstance(value, bool):
        raise ValueError('must be a decimal string such as "10.50", not a boolean')
    if isinstance(value, Decimal):
        result = value
        if result and result.is_finite():  # (str() of a NaN or an infinity has no "E" either)
            text = str(result)  # in C: less than _bounded's as_tuple(), a named tuple's make
            if len(text) <= _SHORT_PLAIN and "E" not in text:
                if result.adjusted() >= MAX_AMOUNT_INTEGER_DIGITS:  # as for a short string
                    raise ValueError(_too_large())
                return result
    elif isinstance(value, int):
        if abs(value) >= 10**MAX_AMOUNT_INTEGER_DIGITS:
            raise ValueError(_too_large())
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_DECIMAL_TEXT or not _DECIMAL_RE.match(text):
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise ValueError(f'{shown!r} is not a decimal number; write it like "10.50"')
        try:
            result = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already filters
            raise ValueError(f"{value!r} is not a decimal number") from exc
        if len(text) <= _SHORT_PLAIN and "e" not in text and "E" not in text and result:
            # a short plain number has few enough digits and places to be within bounds:
            # only its size is left to check (what _bounded finds with a costly as_tuple())
            if result.adjusted() >= MAX_AMOUNT_INTEGER_DIGITS:
                raise ValueError(_too_large())
            return result
    elif isinstance(value, float):
        raise ValueError('must be a decimal string such as "10.50", not a JSON float')
    else:
        raise ValueError('must be a decimal string such as "10.50"')
    return _bounded(result)


def _bounded(value: Decimal) -> Decimal:
    if not value.is_finite():  # NaN, sNaN, infinities: before anything compares them
        raise ValueError("must be a finite decimal")
    if value.is_zero():
        # Signed zero and zeros such as 0E+99 or 0E-99999 all read as plain zero.
        return Decimal(0).scaleb(-min(max(-_exponent(value), 0), MAX_AMOUNT_PLACES))
    if value.adjusted() >= MAX_AMOUNT_INTEGER_DIGITS:
        raise ValueError(_too_large())
    # one as_tuple() for the usual value, within both bounds: it builds a tuple of the digits,
    # and every stored amount read back goes through here
    _, digits, exponent = value.as_tuple()
    if int(exponent) >= -MAX_AMOUNT_PLACES and len(digits) <= MAX_AMOUNT_DIGITS:
        return value
    value = _without_trailing_zeros(value)  # past a bound, they say nothing
    if _exponent(value) < -MAX_AMOUNT_PLACES:
        raise ValueError(f"has more than {MAX_AMOUNT_PLACES} digits after the point")
    if len(value.as_tuple().digits) > MAX_AMOUNT_DIGITS:
        raise ValueError(f"has more than {MAX_AMOUNT_DIGITS} significant digits")
    return value


def _without_trailing_zeros(value: Decimal) -> Decimal:
    """The same value with the zeros after the point that end it dropped; exact, unlike
    ``normalize()``, which rounds to the context's precision."""
    sign, digits, _ = value.as_tuple()
    exponent = _exponent(value)
    end = len(digits)
    while end > 1 and exponent < 0 and digits[end - 1] == 0:
        end -= 1
        exponent += 1
    return Decimal((sign, digits[:end], exponent))


def _exponent(value: Decimal) -> int:
    """The exponent of a finite Decimal."""
    return int(value.as_tuple().exponent)


def _too_large() -> str:
    return f"is too large: at most {MAX_AMOUNT_INTEGER_DIGITS} digits before the point"


def format_decimal(value: Decimal) -> str:
    """Plain notation, never exponent form: ``Decimal("1E+2")`` is written ``"100"``."""
    return format(value, "f")


def require_utc(value: datetime) -> datetime:
    """Refuse naive datetimes; normalise aware ones to UTC."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("must carry a timezone, for example 2024-01-15T10:30:00Z")
    return value.astimezone(UTC)


Amount = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    PlainSerializer(format_decimal, return_type=str),
]
"""A money amount or rate: Decimal in Python, a decimal string on the wire."""

Timestamp = Annotated[datetime, AfterValidator(require_utc)]
"""An aware UTC datetime; ISO 8601 on the wire."""


def utcnow() -> datetime:
    return datetime.now(UTC)


R = TypeVar("R")


def slot_function(
    cls: type[R],
    params: Sequence[str],
    values: Sequence[str],
    *,
    prologue: Sequence[str] = (),
    names: Mapping[str, Any] | None = None,
    post_init: bool = False,
) -> Callable[..., R]:
    """A function of ``params`` that makes a ``cls`` (a slotted dataclass, frozen or not)
    through its slots, each field set to its expression in ``values`` (Python over ``params``
    and ``names``, in the fields' order) after the lines of ``prologue``, in straight-line code,
    as :mod:`dataclasses` writes ``__init__``: for records made by the thousand, where the
    generated ``__init__`` parses keywords and sets each field with ``object.__setattr__``, and a
    loop over the fields costs a third more. ``post_init``: ``__post_init__`` runs last, as
    ``__init__`` runs it. The one way rampwire makes code at run time."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    fields = dataclasses.fields(cls)
    if len(values) != len(fields):
        raise TypeError(f"{cls.__name__} has {len(fields)} fields, not {len(values)}")
    builder = _builder(cls)
    scope: dict[str, Any] = {
        **(names or {}),
        "_new": object.__new__,
        "_cls": cls,
        "_builder": builder,
    }
    lines = [f"def make({', '.join(params)}):", *(f"    {line}" for line in prologue)]
    lines.append("    record = _new(_builder)")
    for field, value in zip(fields, values, strict=True):
        lines.append(f"    record.{field.name} = {value}")
    if builder is not cls:
        lines.append("    record.__class__ = _cls")
    if post_init:
        lines.append("    record.__post_init__()")
    lines.append("    return record")
    exec("\n".join(lines), scope)  # code of field names and the caller's expressions
    return cast("Callable[..., R]", scope["make"])


@cache
def _builder(cls: type[R]) -> type[R]:
    """What :func:`slot_function` makes a record as before it becomes a ``cls``: ``cls``
    itself when its instances take plain attribute stores, else (a frozen dataclass, whose
    ``__setattr__`` raises) a subclass of it that adds no slots and restores ``object``'s
    ``__setattr__`` and ``__delattr__``. Its stores are then the interpreter's own (a slot's
    store, specialised), a quarter of the cost of calling each slot's ``__set__``; the record's
    class is then set to ``cls``, which a subclass of the same layout allows."""
    if cls.__setattr__ is object.__setattr__ and cls.__delattr__ is object.__delattr__:
        return cls
    namespace = {
        "__slots__": (),
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
        "__module__": cls.__module__,
        "__qualname__": f"{cls.__qualname__}._Builder",
    }
    return cast("type[R]", type(f"{cls.__name__}Builder", (cls,), namespace))


def keyword_maker(cls: type[R]) -> Callable[..., R]:
    """``cls(**values)`` through the slots of ``cls`` (:func:`slot_function`): keyword-only,
    with the class's defaults, ``__post_init__`` run last, for about a third less than the
    generated ``__init__``. Not for fields with a default factory (a shared default would be
    one object for every record): those raise TypeError."""
    params: list[str] = ["*"]
    defaults: dict[str, Any] = {}
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # slot_function checks it
    for f in fields:
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name} has a default factory")
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            defaults[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    return slot_function(cls, params, [f.name for f in fields], names=defaults, post_init=True)


def record_maker(cls: type[R]) -> Callable[[tuple[Any, ...]], R]:
    """What makes a slotted dataclass ``cls`` of all its fields' values, in declaration order,
    through its slots (:func:`slot_function`): about a third of the cost of the generated
    ``__init__`` for records read or written by the thousand, frozen ones included. Only for
    classes without ``__post_init__`` (it would not run); a wrong count of values raises
    TypeError."""
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__, which its maker would skip")
    count = len(dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else 0
    each = [f"v{n}" for n in range(count)]

    def wrong(values: tuple[Any, ...]) -> None:
        raise TypeError(f"{cls.__name__} takes {count} values, not {len(values)}")

    return slot_function(
        cls,
        ["values"],
        each,
        prologue=[f"if len(values) != {count}:", "    _wrong(values)"]
        + ([f"{', '.join(each)}, = values"] if each else []),
        names={"_wrong": wrong},
    )
