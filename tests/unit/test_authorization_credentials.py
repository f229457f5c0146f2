"""The four auth methods: their validation and the headers they produce."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from rampwire.authorization import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    HmacAuth,
    InvalidAuthorizationConfig,
)
from rampwire.settings import Secret

BODY = b'{"email":"ana@example.com"}'


def test_bearer_headers() -> None:
    auth = BearerAuth(token=Secret("abc.def-ghi_~+/="))
    assert auth.headers(BODY, timestamp=1) == {"Authorization": "Bearer abc.def-ghi_~+/="}


def test_basic_headers_are_utf8_base64() -> None:
    auth = BasicAuth(username="rämp", password=Secret("p:w"))
    header = auth.headers(BODY, timestamp=1)["Authorization"]
    assert header == "Basic " + base64.b64encode("rämp:p:w".encode()).decode()


def test_custom_header() -> None:
    auth = HeaderAuth(name="X-Api-Key", value=Secret("key with inner space"))
    assert auth.headers(BODY, timestamp=1) == {"X-Api-Key": "key with inner space"}


def test_authorization_is_allowed_as_a_custom_header() -> None:
    auth = HeaderAuth(name="Authorization", value=Secret("Token abc"))
    assert auth.headers(BODY, timestamp=1) == {"Authorization": "Token abc"}


def test_hmac_headers() -> None:
    secret = "0123456789abcdef0123"
    headers = HmacAuth(secret=Secret(secret)).headers(BODY, timestamp=1718000000)
    expected = hmac.new(secret.encode(), b"1718000000." + BODY, hashlib.sha256).hexdigest()
    assert headers == {
        "X-Rampwire-Timestamp": "1718000000",
        "X-Rampwire-Signature": f"v1={expected}",
    }


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [
        (lambda: BearerAuth(token=Secret("")), "auth.token", "auth.token must not be empty"),
        (lambda: BearerAuth(token=Secret("Bearer abc")), "auth.token", "without the 'Bearer '"),
        (lambda: BearerAuth(token=Secret("ab c")), "auth.token", "without spaces"),
        (lambda: BearerAuth(token=Secret("abc\r\nX: y")), "auth.token", "without spaces"),
        (lambda: BearerAuth(token=Secret("tökén")), "auth.token", "printable ASCII"),
        (lambda: BearerAuth(token=Secret("a" * 5000)), "auth.token", "longer than 4096"),
        (
            lambda: BasicAuth(username="", password=Secret("p")),
            "auth.username",
            "auth.username must be a non-empty string",
        ),
        (
            lambda: BasicAuth(username="a:b", password=Secret("p")),
            "auth.username",
            "must not contain ':'",
        ),
        (
            lambda: BasicAuth(username="a\nb", password=Secret("p")),
            "auth.username",
            "control characters",
        ),
        (
            lambda: BasicAuth(username="a", password=Secret("p\r\n")),
            "auth.password",
            "control characters",
        ),
        (
            lambda: HeaderAuth(name="X Api Key", value=Secret("v")),
            "auth.name",
            "'X Api Key' is not a valid header name",
        ),
        (
            lambda: HeaderAuth(name="X-Api-Key:", value=Secret("v")),
            "auth.name",
            "is not a valid header name",
        ),
        (lambda: HeaderAuth(name="", value=Secret("v")), "auth.name", "non-empty header name"),
        (lambda: HeaderAuth(name="Host", value=Secret("v")), "auth.name", "set by the HTTP client"),
        (
            lambda: HeaderAuth(name="content-length", value=Secret("1")),
            "auth.name",
            "set by the HTTP client",
        ),
        (
            lambda: HeaderAuth(name="Transfer-Encoding", value=Secret("chunked")),
            "auth.name",
            "set by the HTTP client",
        ),
        (
            lambda: HeaderAuth(name="Connection", value=Secret("close")),
            "auth.name",
            "set by the HTTP client",
        ),
        (
            lambda: HeaderAuth(name="Content-Type", value=Secret("text/plain")),
            "auth.name",
            "set by the HTTP client",
        ),
        (
            lambda: HeaderAuth(name="X-Rampwire-Signature", value=Secret("v1=0")),
            "auth.name",
            "is reserved",
        ),
        (lambda: HeaderAuth(name="X-Key", value=Secret("")), "auth.value", "must not be empty"),
        (
            lambda: HeaderAuth(name="X-Key", value=Secret(" padded")),
            "auth.value",
            "leading and trailing spaces",
        ),
        (
            lambda: HeaderAuth(name="X-Key", value=Secret("a\r\nInjected: 1")),
            "auth.value",
            "without line breaks",
        ),
        (lambda: HmacAuth(secret=Secret("short")), "auth.secret", "at least 16 characters"),
        (
            lambda: HmacAuth(secret=Secret(" 0123456789abcdef ")),
            "auth.secret",
            "must not start or end with whitespace",
        ),
    ],
)
def test_invalid_auth_is_refused_with_a_message(build: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidAuthorizationConfig) as caught:
        build()
    assert message in caught.value.message
    assert caught.value.extensions == {"field": field}


def test_secrets_must_be_wrapped() -> None:
    with pytest.raises(TypeError, match=r"rampwire\.settings\.Secret"):
        BearerAuth(token="plain")  # type: ignore[arg-type]


def test_repr_hides_secrets() -> None:
    auths = [
        BearerAuth(token=Secret("tok_hidden_1")),
        BasicAuth(username="user", password=Secret("pw_hidden_2")),
        HeaderAuth(name="X-Key", value=Secret("hdr_hidden_3")),
        HmacAuth(secret=Secret("hmac_hidden_4_0123456789")),
    ]
    for auth in auths:
        assert "hidden" not in repr(auth)
