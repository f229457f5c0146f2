"""JavaScript's ``JSON.stringify``, byte for byte, for signatures computed over it (Koywe).

Python's ``json.dumps`` differs on every point that matters here: it adds spaces, escapes
non-ASCII, and escapes differently. ``JSON.stringify`` (ECMA-262 ``QuoteJSONString``, with the
ES2019 well-formed rule) writes:

- ``"`` and ``\\`` as ``\\"`` and ``\\\\``; backspace, form feed, newline, carriage return and tab
  as ``\\b \\f \\n \\r \\t``; every other code unit below U+0020 as ``\\u00xx`` (lower-case hex);
- an unpaired surrogate as ``\\udxxx`` (lower-case hex);
- everything else as itself, encoded in UTF-8 here: ``/``, U+2028, U+2029, U+007F, emoji.

Strings are walked as UTF-16 code units, as JavaScript sees them, so a Python string holding a
surrogate pair written as two code points comes out exactly as JavaScript would write it.
Numbers follow ``Number.prototype.toString`` (shortest round-trip digits; exponent form below
1e-6 and from 1e21). Objects keep their key order; there is no whitespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

_SHORT_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
_ESCAPES = {0x22: '\\"', 0x5C: "\\\\"}


def stringify(value: object) -> bytes:
    """``Buffer.from(JSON.stringify(value), "utf8")`` for JSON-shaped Python values.

    Accepts dict (string keys), list/tuple, str, bool, None, int, Decimal and float.
    """
    return _write(value).encode("utf-8")


def quote(value: str) -> str:
    """A JavaScript string literal as ``JSON.stringify`` writes it (``QuoteJSONString``)."""
    units = value.encode("utf-16-le", "surrogatepass")
    codes = [int.from_bytes(units[i : i + 2], "little") for i in range(0, len(units), 2)]
    out = ['"']
    i = 0
    while i < len(codes):
        code = codes[i]
        if 0xD800 <= code <= 0xDBFF and i + 1 < len(codes) and 0xDC00 <= codes[i + 1] <= 0xDFFF:
            out.append(chr(0x10000 + ((code - 0xD800) << 10) + (codes[i + 1] - 0xDC00)))
            i += 2
            continue
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
        elif code in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[code])
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(chr(code))
        i += 1
    out.append('"')
    return "".join(out)


def number(value: int | float | Decimal) -> str:
    """``Number.prototype.toString`` of ``Number(value)``: what JavaScript prints for it."""
    as_float = float(value)
    if as_float != as_float or as_float in (float("inf"), float("-inf")):
        return "null"  # JSON.stringify writes non-finite numbers as null
    if as_float == 0:
        return "0"  # also -0
    sign = "-" if as_float < 0 else ""
    # repr() gives the shortest digits that round-trip, as ECMAScript requires
    digits_tuple = Decimal(repr(abs(as_float))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = digits_tuple.exponent
    if not isinstance(exponent, int):  # pragma: no cover - finite values only
        raise ValueError("not a finite number")
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10**n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        body = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + body


def _write(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int | float | Decimal):
        return number(value)
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, not {type(key).__name__}")
            items.append(f"{quote(key)}:{_write(item)}")
        return "{" + ",".join(items) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(_write(item) for item in value) + "]"
    raise TypeError(f"JSON.stringify cannot write {type(value).__name__}")
