"""Small pieces every dialect needs on the wire: headers, JSON, times, HMAC, decimal strings.

Parsing helpers raise plain ``ValueError``/``TypeError``; each decoder runs them inside
:func:`~rampwire.dialects.base.translate_errors`, which turns them into ``MalformedPayload``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Final

import orjson

from ..types import format_decimal, parse_decimal, require_utc
from .errors import DuplicateKey, MalformedHeader, MissingHeader, TimestampOutOfWindow

DEFAULT_TOLERANCE: Final = timedelta(minutes=5)  # how far a signed timestamp may be from now
JSON_HEADERS: Final = {"content-type": "application/json"}

_MS_MIN, _MS_MAX = 0, 253_402_300_799_999  # epoch milliseconds, 1970 to the end of year 9999
# made once: a datetime or timedelta built from keywords costs more than the arithmetic on it
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_DIGITS_RE = re.compile(r"^[0-9]{1,16}$")
_WIDE_CONTEXT = Context(prec=100)


# --- headers ------------------------------------------------------------------------------------


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive: index them by their lower-case name."""
    result: dict[str, str] = {}
    for name, value in headers.items():
        if isinstance(name, str) and isinstance(value, str):
            result[name.lower()] = value
    return result


def require_header(headers: Mapping[str, str], name: str) -> str:
    """The value of header ``name`` (``headers`` from :func:`lower_headers`), or MissingHeader."""
    value = headers.get(name.lower())
    if value is None or not value.strip():
        raise MissingHeader(f"the {name} header is missing", header=name)
    return value.strip()


def header_integer(headers: Mapping[str, str], name: str) -> int:
    """A header holding a non-negative integer in ASCII digits (no sign, no spaces, no exotic
    digits that ``int()`` would accept)."""
    value = require_header(headers, name)
    if not _DIGITS_RE.match(value):
        raise MalformedHeader(f"the {name} header must be an integer, not {value[:40]!r}")
    return int(value)


def check_window(
    signed_ms: int, now: datetime, tolerance: timedelta, what: str = "timestamp"
) -> None:
    """Refuse a signed epoch time (milliseconds) more than ``tolerance`` away from ``now``,
    either way, naming which way: a replayed request is too old, a forged clock in the future.

    Works on integers, so an absurd header value is "out of window", never an overflow.
    """
    skew_ms = signed_ms - to_ms(now)
    if abs(skew_ms) > tolerance // _ONE_MS:
        how = "too old" if skew_ms < 0 else "in the future"
        raise TimestampOutOfWindow(
            f"the {what} is {how}: {abs(skew_ms) / 1000:.0f} s "
            f"{'before' if skew_ms < 0 else 'after'} now; at most "
            f"{int(tolerance.total_seconds())} s either way are accepted",
            reason="too_old" if skew_ms < 0 else "in_the_future",
        )


# --- JSON ---------------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: the standard parser's float() overflows to infinity
        raise ValueError(f"{text[:40]} is out of range for a JSON number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict, refusing a key given twice: parsers disagree on which
    value wins, so the value verified and the value logged could differ."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = key if len(key) <= 80 else key[:80] + "..."
                raise DuplicateKey(f"the JSON key {shown!r} appears twice in one object", key=shown)
            seen.add(key)
    return found


# made once; orjson cannot report duplicate keys, the standard library's hook can
_JSON = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_float=_finite, parse_constant=_no_constants
)
_DECIMAL_JSON = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_float=Decimal, parse_constant=_no_constants
)


def parse_object(body: bytes, *, decimals: bool = False) -> dict[str, Any]:
    """Parse a JSON object. With ``decimals``, every JSON number with a fraction or exponent
    becomes a Decimal (never a binary float); NaN and Infinity are refused, and so is a key
    given twice in any object (:class:`DuplicateKey`).

    The result must serialise back to UTF-8 JSON (no unpaired surrogates, integers within 64
    bits), so what was verified can be stored, forwarded and compared
    (:func:`canonical`).
    """
    value = _parse(body, decimals)
    _reencode(value)
    return _object(value)


def parse_canonical(body: bytes, *, decimals: bool = False) -> tuple[dict[str, Any], bytes]:
    """:func:`parse_object`, and the object's :func:`canonical` spelling, which its check that
    the object serialises back writes anyway (the de-duplication key hashes it)."""
    if not decimals:
        compact = _orjson_spelled(body)
        if compact is not None:
            return compact, canonical(compact)
    value = _parse(body, decimals)
    try:
        spelled = canonical(value)
    except TypeError:  # the error, and its message, of parse_object's own check
        _reencode(value)
        raise
    return _object(value), spelled


def _orjson_spelled(body: bytes) -> dict[str, Any] | None:
    """The object of a body that is, byte for byte, orjson's compact spelling of what orjson
    reads in it; None for any other body (for the standard parser to read or refuse).

    Such a body has no key twice (the spelling of what was read would be shorter), no
    number out of range or spelled otherwise (a large integer reads as a float, spelled with
    an exponent; ``1e400`` is refused), no escape, space or nesting orjson would not write,
    and is valid UTF-8 JSON: the standard parser reads the same values from it, and they
    serialise back. orjson reads and writes a small body in a fraction of the standard
    parser's time, for a signed JSON body written compactly (Revolut's)."""
    try:
        value = orjson.loads(body)
        if type(value) is not dict or orjson.dumps(value) != body:
            return None
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return value


def _parse(body: bytes, decimals: bool) -> Any:
    text = body.decode("utf-8")  # strict: the standard parser would guess UTF-16 otherwise
    decoder = _DECIMAL_JSON if decimals else _JSON
    # raw_decode, without decode's two Python layers and whitespace matches, for a body with
    # nothing around its value; any other body, valid or not, is decode's to read or refuse
    try:
        value, end = decoder.raw_decode(text)
    except ValueError:
        return decoder.decode(text)
    return value if end == len(text) else decoder.decode(text)


def _reencode(value: Any) -> None:
    try:
        orjson.dumps(value, default=format_decimal)
    except TypeError as exc:  # unpaired surrogates cannot be stored or forwarded
        raise ValueError(f"the body cannot be re-encoded as UTF-8 JSON: {exc}") from exc


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"the body must be a JSON object, not {type(value).__name__}")
    return value


def canonical(value: Any) -> bytes:
    """One spelling of a parsed JSON value: compact, keys sorted at every depth, Decimals as
    written. Two bodies that differ only in whitespace, escapes or key order give the same."""
    return orjson.dumps(value, default=format_decimal, option=orjson.OPT_SORT_KEYS)


def dumps(value: Any) -> bytes:
    """Compact JSON; Decimals as JSON numbers written exactly (see :func:`number`)."""
    return orjson.dumps(value)


def number(value: Decimal) -> orjson.Fragment:
    """A Decimal written as an exact JSON number: ``Decimal("850.00")`` -> ``850.00``."""
    return orjson.Fragment(format_decimal(value).encode("ascii"))


def text(data: Mapping[str, Any], key: str) -> str | None:
    """A string field; None when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key!r} must be a string, not {type(value).__name__}")
    return value


def required_text(data: Mapping[str, Any], key: str) -> str:
    """A string field that must be present and non-empty."""
    value = text(data, key)
    if not value:
        raise ValueError(f"{key!r} is missing or empty")
    return value


def mapping(data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{key!r} must be an object, not {type(value).__name__}")
    return value


def amount(data: Mapping[str, Any], key: str) -> Decimal | None:
    """A money field given as a decimal string or an exact JSON number; never a float."""
    value = data.get(key)
    return None if value is None else parse_decimal(value)


def compact(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A dict without the None values: optional fields are left out, not sent as null."""
    return {key: value for key, value in pairs if value is not None}


# --- times --------------------------------------------------------------------------------------


def to_ms(value: datetime) -> int:
    """Epoch milliseconds, computed exactly (no float rounding)."""
    return (require_utc(value) - _EPOCH) // _ONE_MS


def from_ms(value: object) -> datetime:
    """Epoch milliseconds (a JSON integer) as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an epoch time in milliseconds must be an integer, not {value!r}")
    if not _MS_MIN <= value <= _MS_MAX:
        raise ValueError(f"{value} is not a plausible epoch time in milliseconds")
    return _EPOCH + _ONE_MS * value


def iso_ms(value: datetime) -> str:
    """JavaScript's ``Date.prototype.toISOString``: ``2022-10-26T22:36:41.658Z``."""
    utc = require_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_iso(value: object) -> datetime:
    """An ISO 8601 time with a zone (``Z`` or an offset), as aware UTC."""
    if not isinstance(value, str):
        raise TypeError(f"a time must be an ISO 8601 string, not {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"the time {value!r} has no zone")
    return require_utc(parsed)


# --- HMAC and decimals --------------------------------------------------------------------------


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")  # the one-shot C path, no HMAC object


class HmacSha256:
    """HMAC-SHA256 with one key, set up once: each message copies the keyed state
    (``hmac.HMAC.copy``, OpenSSL's) and hashes itself only, where :func:`hmac_sha256` (the
    one-shot HMAC) sets the key up again for each. For credentials, which verify many requests
    with the same secrets."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def digest(self, message: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(message)
        return mac.digest()


def matches_any(expected: Iterable[str], received: Iterable[str]) -> bool:
    """Constant-time comparison of every expected signature with every received one."""
    found = False
    received = list(received)
    for mine in expected:
        for theirs in received:
            # compare_digest on ASCII bytes: both sides may be any length
            found |= hmac.compare_digest(mine.encode(), theirs.encode("utf-8", "replace"))
    return found


def fixed_places(value: Decimal, places: int) -> str:
    """``value`` with exactly ``places`` decimals when that loses nothing; otherwise every digit
    it has (money is never rounded to fit a format)."""
    try:
        quantized = value.quantize(Decimal(1).scaleb(-places), context=_WIDE_CONTEXT)
    except InvalidOperation:
        return format_decimal(value)
    return format_decimal(quantized if quantized == value else value)
