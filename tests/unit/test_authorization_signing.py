"""The HMAC signature headers: signing, and the verification recipe."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.authorization import InvalidSignature, sign, verify
from rampwire.authorization.signing import signed_content
from rampwire.settings import Secret

SECRET = Secret("0123456789abcdef0123456789abcdef")
BODY = b'{"request_id":"azr_1","operation":"buy","email":"ana@example.com"}'
NOW = 1_718_000_000


def test_sign_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(
        b"0123456789abcdef0123456789abcdef", b"1718000000." + BODY, hashlib.sha256
    ).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"v1={expected}"
    assert signed_content(NOW, BODY) == b"1718000000." + BODY


def test_verify_accepts_a_fresh_signature() -> None:
    signature = sign(SECRET, NOW, BODY)
    assert verify(SECRET, body=BODY, timestamp=str(NOW), signature=signature, now=NOW) == NOW
    assert verify(SECRET, body=BODY, timestamp=str(NOW), signature=signature, now=NOW + 300)


def test_verify_accepts_any_of_several_signatures() -> None:
    other = sign(Secret("another secret, rotated out"), NOW, BODY)
    header = f"{other}, {sign(SECRET, NOW, BODY).upper().replace('V1=', 'v1=')}, v2=abc"
    assert verify(SECRET, body=BODY, timestamp=str(NOW), signature=header, now=NOW) == NOW


@pytest.mark.parametrize(
    ("timestamp", "signature", "now", "message"),
    [
        (None, "v1=00", NOW, "send both"),
        (str(NOW), None, NOW, "send both"),
        ("17e8", "v1=00", NOW, "UNIX seconds in ASCII digits"),
        (" 1718000000", "v1=00", NOW, "UNIX seconds in ASCII digits"),
        ("-1", "v1=00", NOW, "UNIX seconds in ASCII digits"),
        ("١٧١٨", "v1=00", NOW, "UNIX seconds in ASCII digits"),  # non-ASCII digits
        (str(NOW), "v1=00", NOW + 301, "more than 300 seconds"),
        (str(NOW), "v1=00", NOW - 301, "more than 300 seconds"),
        (str(NOW), "v1=zz", NOW, "holds no v1=<hex> signature"),
        (str(NOW), "sha256=" + "0" * 64, NOW, "holds no v1=<hex> signature"),
        (str(NOW), "v1=" + "é" * 64, NOW, "holds no v1=<hex> signature"),
        (str(NOW), "v1=" + "0" * 64, NOW, "does not verify"),
        (str(NOW), "v1=0," * 300, NOW, "too long"),
    ],
)
def test_verify_refuses(
    timestamp: str | None, signature: str | None, now: int, message: str
) -> None:
    with pytest.raises(InvalidSignature, match=message) as caught:
        verify(SECRET, body=BODY, timestamp=timestamp, signature=signature, now=now)
    assert caught.value.status == 401


def test_verify_refuses_a_changed_body() -> None:
    signature = sign(SECRET, NOW, BODY)
    with pytest.raises(InvalidSignature):
        verify(SECRET, body=BODY + b" ", timestamp=str(NOW), signature=signature, now=NOW)


@given(timestamp=st.one_of(st.none(), st.text()), signature=st.one_of(st.none(), st.text()))
def test_verify_raises_only_its_own_error(timestamp: str | None, signature: str | None) -> None:
    try:
        verify(SECRET, body=BODY, timestamp=timestamp, signature=signature, now=NOW)
    except InvalidSignature:
        pass
