"""Reading partners' answers: the accepted forms, the edge cases, and that nothing raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.authorization.answers import MAX_ANSWER_BYTES, MAX_QUOTE_CHARS, parse_answer, quote

ALLOWED = [
    b"true",
    b'"true"',
    b"1",
    b'{"allowed": true}',
    b'{"valid": true}',
    b'{"data": true}',
    b'{"allowed": "true"}',
    b'{"valid": 1}',
    b'{"data": {"allowed": true}}',
    b'{"data": {"valid": "true"}}',
    b'{"allowed": true, "valid": true}',
    b'{"allowed": true, "user": "ana"}',
    b" true\n",  # whitespace around a JSON value is JSON's own
    b'\t{ "allowed" : true }\r\n',
]

REFUSED = [
    b"false",
    b'"false"',
    b"0",
    b'{"allowed": false}',
    b'{"valid": false}',
    b'{"data": false}',
    b'{"allowed": "false"}',
    b'{"data": 0}',
    b'{"data": {"allowed": false}}',
    b'{"allowed": false, "reason": "KYC pending"}',
    b'{"allowed": true, "valid": false}',  # any refusal among the keys refuses
    b"-0",  # JSON -0 is the integer 0
]

UNRECOGNISED = [
    b'"TRUE"',
    b'"True"',
    b'" true"',
    b'"yes"',
    b'"1"',
    b"1.0",
    b"1e0",
    b"2",
    b"-1",
    b"null",
    b"[]",
    b"[true]",
    b"{}",
    b'{"ok": true}',
    b'{"Allowed": true}',
    b'{"allowed": null}',
    b'{"allowed": 1.0}',
    b'{"allowed": [true]}',
    b'{"allowed": {"allowed": true}}',
    b'{"data": {"data": true}}',  # data unwraps once
    b'{"data": {}}',
    b'{"allowed": true, "valid": "maybe"}',
    b"True",  # Python, not JSON
    b"yes",
    b"true true",
    b"\xef\xbb\xbftrue",  # a byte-order mark is not JSON
    b"\xff\xfe",
    b"",
    b"   ",
]


@pytest.mark.parametrize("body", ALLOWED)
def test_allowed(body: bytes) -> None:
    answer = parse_answer(body)
    assert answer.allowed is True
    assert answer.recognised is True
    assert answer.reason.startswith("allowed by partner: ")


@pytest.mark.parametrize("body", REFUSED)
def test_refused(body: bytes) -> None:
    answer = parse_answer(body)
    assert answer.allowed is False
    assert answer.recognised is True
    assert answer.reason.startswith("refused by partner: ")


@pytest.mark.parametrize("body", UNRECOGNISED)
def test_unrecognised_is_a_refusal(body: bytes) -> None:
    answer = parse_answer(body)
    assert answer.allowed is False
    assert answer.recognised is False
    assert answer.reason.startswith("unrecognised answer: ")


def test_reason_quotes_the_partner() -> None:
    answer = parse_answer(b'{"allowed": false, "reason": "KYC pending"}')
    assert answer.reason == 'refused by partner: {"allowed": false, "reason": "KYC pending"}'
    assert parse_answer(b'"TRUE"').reason == 'unrecognised answer: "TRUE"'
    assert parse_answer(b"<p>hi</p>").reason == "unrecognised answer: not JSON: <p>hi</p>"
    assert parse_answer(b"").reason == "unrecognised answer: empty body"


def test_too_large_is_unrecognised() -> None:
    answer = parse_answer(b"true" + b" " * MAX_ANSWER_BYTES)
    assert answer.allowed is False
    assert answer.reason == f"unrecognised answer: larger than {MAX_ANSWER_BYTES} bytes"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"a\nb\r\n\tc", "a b c"),
        (b"\x1b[31mred", "\ufffd[31mred"),
        (b"\xffok", "\ufffdok"),
        (b"", ""),
    ],
)
def test_quote_is_one_printable_line(body: bytes, expected: str) -> None:
    assert quote(body) == expected


def test_quote_is_bounded() -> None:
    quoted = quote(b"x" * 10_000)
    assert quoted == "x" * MAX_QUOTE_CHARS + "…"


TEXT = st.text(st.characters(exclude_categories=["Cs"]))  # JSON text is UTF-8: no lone surrogates
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["true", "false", "TRUE", " true"])
    | TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["allowed", "valid", "data"]) | TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
ALLOWING_SCALARS = (True, "true", 1)


def _expect_allowed(value: object, unwrap_data: bool = True) -> bool:
    """An independent statement of the rule: which JSON values allow."""
    if not isinstance(value, dict):
        return any(value is s or (type(value) is type(s) and value == s) for s in ALLOWING_SCALARS)
    keys = ("allowed", "valid", "data") if unwrap_data else ("allowed", "valid")
    present = [key for key in keys if key in value]
    if not present:
        return False
    for key in present:
        inner = value[key]
        if key == "data" and isinstance(inner, dict):
            if not _expect_allowed(inner, unwrap_data=False):
                return False
        elif isinstance(inner, dict) or not _expect_allowed(inner):
            return False
    return True


@given(JSON)
def test_any_json_value_is_read_without_raising(value: object) -> None:
    answer = parse_answer(json.dumps(value, ensure_ascii=False).encode())
    assert answer.allowed is _expect_allowed(value)


@given(st.binary(max_size=300))
def test_any_bytes_are_read_without_raising(body: bytes) -> None:
    answer = parse_answer(body)
    assert isinstance(answer.reason, str)
