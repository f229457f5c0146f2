"""Shared type aliases: money, time and JSON.

Money is always :class:`~decimal.Decimal`; on the wire it is a string, never a binary float.
Times are timezone-aware and normalised to UTC; a naive datetime is refused where it is built.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeAlias

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

JSONValue: TypeAlias = Any
JSONObject: TypeAlias = dict[str, Any]

MAX_AMOUNT_DIGITS = 40  # digits before and after the point, together

_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_decimal(value: object) -> Decimal:
    """Turn a decimal string (or an int, or a Decimal) into a finite Decimal.

    Floats are refused: ``0.1`` cannot be represented and money must not lose a cent.
    """
    if isinstance(value, bool):
        raise ValueError('must be a decimal string such as "10.50", not a boolean')
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_RE.match(text):
            raise ValueError(f'{value!r} is not a decimal number; write it like "10.50"')
        try:
            result = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already filters
            raise ValueError(f"{value!r} is not a decimal number") from exc
    elif isinstance(value, float):
        raise ValueError('must be a decimal string such as "10.50", not a JSON float')
    else:
        raise ValueError('must be a decimal string such as "10.50"')
    if not result.is_finite():
        raise ValueError("must be a finite decimal")
    if len(result.as_tuple().digits) > MAX_AMOUNT_DIGITS:
        raise ValueError(f"has more than {MAX_AMOUNT_DIGITS} digits")
    return result


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
