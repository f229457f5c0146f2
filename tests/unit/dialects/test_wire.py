"""Wire helpers: headers, JSON with exact decimals, times, HMAC, fixed places."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.dialects import MalformedHeader, MissingHeader, TimestampOutOfWindow, wire

from .support import NOW


def test_headers_are_looked_up_case_insensitively() -> None:
    headers = wire.lower_headers({"X-Thing": " 42 ", "other": "x"})
    assert wire.require_header(headers, "x-THING") == "42"
    assert wire.header_integer(headers, "X-Thing") == 42
    with pytest.raises(MissingHeader):
        wire.require_header(headers, "absent")
    with pytest.raises(MissingHeader):
        wire.require_header({"blank": "  "}, "blank")


@pytest.mark.parametrize("value", ["-1", "+1", "1.0", "1e3", "0x10", "١٢", "1 2", "9" * 17])
def test_integer_headers_are_ascii_digits_only(value: str) -> None:
    with pytest.raises(MalformedHeader):
        wire.header_integer({"t": value}, "t")


def test_the_window_is_inclusive_and_symmetric() -> None:
    ms = wire.to_ms(NOW)
    five = timedelta(minutes=5)
    wire.check_window(ms - 300_000, NOW, five)
    wire.check_window(ms + 300_000, NOW, five)
    for signed in (ms - 300_001, ms + 300_001, 0, 10**16):
        with pytest.raises(TimestampOutOfWindow):
            wire.check_window(signed, NOW, five)


def test_json_money_is_read_as_decimal_never_float() -> None:
    value = wire.parse_object(b'{"a": 0.1, "b": 1e-3, "c": 7, "d": "x"}', decimals=True)
    assert value == {"a": Decimal("0.1"), "b": Decimal("0.001"), "c": 7, "d": "x"}
    assert isinstance(value["a"], Decimal)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": "\\ud800"}',
        b"[1]",
        b"\xff",
        '{"a":1}'.encode("utf-16"),
        b"\xef\xbb\xbf{}",
    ],
)
def test_json_that_cannot_be_money_safe_utf8_objects_is_refused(body: bytes) -> None:
    for decimals in (True, False):
        with pytest.raises(ValueError):
            wire.parse_object(body, decimals=decimals)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1}',
        b' {"a": 1}',
        b'{"a": 1}\n',
        b'\t{"a": [1.5, {"b": null}]}  ',
        b'{"a":1} {"b":2}',
        b'{"a":1}x',
        b'{"a":',
        b"",
        b"  ",
        b'{"a" 1}',
        b"[1] ",
        b"7",
    ],
)
def test_json_is_read_or_refused_as_the_standard_decoder_reads_it(body: bytes) -> None:
    """Only a body with nothing around its value skips ``JSONDecoder.decode``: any other is
    read, or refused with the same message, as ``decode`` does."""
    for decimals in (True, False):
        reference = json.JSONDecoder(parse_float=Decimal if decimals else float)
        try:
            expected: object = reference.decode(body.decode())
        except ValueError as exc:
            expected = str(exc)
        try:
            found: object = wire.parse_object(body, decimals=decimals)
        except ValueError as exc:
            found = str(exc)
        if not isinstance(expected, dict) and not isinstance(expected, str):
            expected = f"the body must be a JSON object, not {type(expected).__name__}"
        assert found == expected


def test_exact_json_numbers_are_written_from_decimals() -> None:
    assert wire.dumps({"n": wire.number(Decimal("850.00000000"))}) == b'{"n":850.00000000}'
    assert wire.dumps({"n": wire.number(Decimal("1E+3"))}) == b'{"n":1000}'


def test_times_convert_exactly() -> None:
    moment = datetime(2022, 10, 26, 22, 36, 41, 658999, tzinfo=UTC)
    assert wire.to_ms(moment) == 1666823801658
    assert wire.from_ms(1666823801658) == moment.replace(microsecond=658000)
    assert wire.iso_ms(moment) == "2022-10-26T22:36:41.658Z"
    east = moment.astimezone(timezone(timedelta(hours=5)))
    assert wire.iso_ms(east) == "2022-10-26T22:36:41.658Z"
    assert wire.parse_iso("2022-10-26T22:36:41.658Z") == moment.replace(microsecond=658000)
    assert wire.parse_iso("2022-10-27T03:36:41+05:00") == moment.replace(microsecond=0)


@pytest.mark.parametrize("value", [True, 1.5, "1", -1, 253_402_300_800_000])
def test_implausible_epoch_times_are_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        wire.from_ms(value)


@pytest.mark.parametrize("value", ["2022-10-26T22:36:41", "yesterday", 1666823801, None])
def test_times_without_a_zone_are_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        wire.parse_iso(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("850", "850.00000000"),
        ("0.576471", "0.57647100"),
        ("1.123456789", "1.123456789"),
        ("1E+40", "1" + "0" * 40 + ".00000000"),
        ("1E+200", "1" + "0" * 200),
    ],
)
def test_fixed_places_never_lose_a_digit(value: str, expected: str) -> None:
    assert wire.fixed_places(Decimal(value), 8) == expected


def test_signatures_are_compared_all_against_all() -> None:
    assert wire.matches_any(["aa", "bb"], ["cc", "bb"])
    assert not wire.matches_any(["aa"], ["a", "aaa", "\udcff"])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=300))
def test_a_keyed_hmac_gives_the_one_shot_digest(key: bytes, message: bytes) -> None:
    """Keys shorter than, as long as and longer than SHA-256's 64-byte block."""
    mac = wire.HmacSha256(key)
    assert mac.digest(message) == hmac.digest(key, message, "sha256")
    assert mac.digest(message) == wire.hmac_sha256(key, message)  # the same twice


def test_a_keyed_hmac_of_rfc_4231() -> None:
    """RFC 4231 test cases 2 (a short key) and 6 (a key longer than the block)."""
    assert (
        wire.HmacSha256(b"Jefe").digest(b"what do ya want for nothing?").hex()
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert (
        wire.HmacSha256(b"\xaa" * 131)
        .digest(b"Test Using Larger Than Block-Size Key - Hash Key First")
        .hex()
        == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )


# --- orjson's own spelling, read by orjson, against the standard parser -------------------------


def _parsed(body: bytes, *, general: bool) -> object:
    """parse_canonical's value and spelling, or its error's type and message."""
    with pytest.MonkeyPatch.context() as patched:
        if general:
            patched.setattr(wire, "_orjson_spelled", lambda body: None)
        try:
            return wire.parse_canonical(body)
        except Exception as exc:  # the type and the message are what must agree
            return (type(exc), str(exc))


def _read_alike(body: bytes) -> object:
    found = _parsed(body, general=False)
    expected = _parsed(body, general=True)
    assert found == expected
    if isinstance(found, tuple) and isinstance(found[0], dict):  # the same types, too
        assert repr(found) == repr(expected)
    return found


_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**64 + 2)
    | st.integers(max_value=-(2**63) + 2)
    | st.floats()
    | st.text(st.characters(codec="utf-8"), max_size=6)
)
_JSON = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(st.text(max_size=4), _JSON, max_size=4))
def test_a_compact_body_reads_as_the_standard_parser_reads_it(value: dict[str, object]) -> None:
    for body in (
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace"),
        json.dumps(value, separators=(",", ":")).encode(),
        json.dumps(value).encode(),
    ):
        _read_alike(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"order_id":"o-1","wallet":"0xab","event":"ORDER_COMPLETED"}',
        b'{"a":1,"a":2}',
        b'{"a":{"b":1,"b":1}}',
        b'{"a":123456789012345678901234567890}',
        b'{"a":18446744073709551615}',
        b'{"a":18446744073709551616}',
        b'{"a":-9223372036854775809}',
        b'{"a":1e400}',
        b'{"a":-0}',
        b'{"a":-0.0}',
        b'{"a":1.0}',
        b'{"a":1E5}',
        b'{"a":NaN}',
        b'{"a":"\\ud800"}',
        b'{"a":"\\u0041"}',
        b'{"a":"\xe2\x80\xa8"}',
        b'{"a":"\xff"}',
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":1}\n',
        b"[1]",
        b'"a"',
        b"{}",
        b'{"a":' + b"[" * 300 + b"]" * 300 + b"}",
        b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}",
    ],
)
def test_a_compact_body_edge_cases(body: bytes) -> None:
    _read_alike(body)
