"""The authorization config: defaults, validation messages, and the public and storage forms."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampwire.authorization import (
    AuthorizationConfig,
    BasicAuth,
    BearerAuth,
    FailureMode,
    HeaderAuth,
    HmacAuth,
    InvalidAuthorizationConfig,
    Operation,
)
from rampwire.authorization.config import StoredConfig
from rampwire.domain.orders import Side
from rampwire.settings import Secret

URL = "https://partner.example/authorize"
BEARER = BearerAuth(token=Secret("tok_secret_value"))


def make(**changes: Any) -> AuthorizationConfig:
    fields: dict[str, Any] = {"url": URL, "auth": BEARER, **changes}
    return AuthorizationConfig(**fields)


def test_defaults() -> None:
    config = make()
    assert config.operations == frozenset(Operation)
    assert config.timeout_seconds == 3.0
    assert config.failure_mode is FailureMode.CLOSED
    assert config.cache_ttl_seconds == 30.0


def test_values_are_normalised() -> None:
    config = make(operations=["buy", "read"], timeout_seconds=2, failure_mode="open")
    assert config.operations == {Operation.BUY, Operation.READ}
    assert isinstance(config.timeout_seconds, float)
    assert config.failure_mode is FailureMode.OPEN
    assert config.enabled_for(Operation.BUY) and not config.enabled_for(Operation.SELL)


def test_operation_for_side() -> None:
    assert Operation.for_side(Side.BUY) is Operation.BUY
    assert Operation.for_side(Side.SELL) is Operation.SELL


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"url": "ftp://partner.example/"},
            "url",
            "must start with https:// or http://, not 'ftp'",
        ),
        ({"url": "partner.example/authorize"}, "url", "must start with https:// or http://"),
        ({"url": ""}, "url", "must be a non-empty string"),
        ({"url": "https:///path"}, "url", "must name a host"),
        ({"url": "https://u:p@partner.example/"}, "url", "must not carry credentials"),
        ({"url": "https://partner.example/a b"}, "url", "must not contain spaces"),
        ({"url": "https://partner.example/#x"}, "url", "must not have a #fragment"),
        ({"url": "https://partner.example:99999/"}, "url", "is not a valid URL"),
        ({"url": "https://partner.example/" + "a" * 3000}, "url", "is longer than 2048"),
        ({"timeout_seconds": 0}, "timeout_seconds", "more than 0 and at most 30, not 0"),
        ({"timeout_seconds": -1}, "timeout_seconds", "must be a number of seconds"),
        ({"timeout_seconds": 31}, "timeout_seconds", "at most 30"),
        ({"timeout_seconds": float("nan")}, "timeout_seconds", "must be a number of seconds"),
        ({"timeout_seconds": "3"}, "timeout_seconds", "not '3'"),
        ({"timeout_seconds": True}, "timeout_seconds", "not True"),
        ({"cache_ttl_seconds": -1}, "cache_ttl_seconds", "0 or more and at most 3600"),
        ({"cache_ttl_seconds": 3601}, "cache_ttl_seconds", "at most 3600"),
        ({"failure_mode": "sometimes"}, "failure_mode", "'closed' or 'open', not 'sometimes'"),
        ({"operations": {"buy", "withdraw"}}, "operations", "not 'withdraw'"),
        ({"operations": "buy"}, "operations", "must be a set of operations"),
    ],
)
def test_invalid_settings_are_refused_with_a_message(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidAuthorizationConfig) as caught:
        make(**changes)
    assert message in caught.value.message
    assert caught.value.extensions == {"field": field}
    assert caught.value.status == 400
    assert caught.value.code == "invalid_authorization_config"


def test_cache_ttl_zero_is_allowed() -> None:
    assert make(cache_ttl_seconds=0).cache_ttl_seconds == 0.0


def test_auth_must_be_an_auth_method() -> None:
    with pytest.raises(TypeError, match="auth must be BearerAuth"):
        make(auth="Bearer abc")


def test_replace_validates_again() -> None:
    config = make()
    assert config.replace(timeout_seconds=1).timeout_seconds == 1.0
    with pytest.raises(InvalidAuthorizationConfig):
        config.replace(url="gopher://x")


AUTHS = [
    BearerAuth(token=Secret("tok_secret_value")),
    BasicAuth(username="rampwire", password=Secret("pw_secret_value")),
    BasicAuth(username="sk_live_key", password=Secret("")),
    HeaderAuth(name="X-Api-Key", value=Secret("hdr_secret_value")),
    HmacAuth(secret=Secret("hmac_secret_value_0123456789")),
]


@pytest.mark.parametrize("auth", AUTHS)
def test_repr_and_public_dict_never_show_a_secret(auth: Any) -> None:
    config = make(auth=auth)
    secret = next(iter(auth.secrets().values())).reveal()
    public = config.to_public_dict()
    for text in (repr(config), str(config), str(public)):
        assert (secret not in text) if secret else True
        assert "secret_value" not in text


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (AUTHS[0], {"method": "bearer", "token_set": True}),
        (AUTHS[1], {"method": "basic", "username": "rampwire", "password_set": True}),
        (AUTHS[2], {"method": "basic", "username": "sk_live_key", "password_set": False}),
        (AUTHS[3], {"method": "header", "name": "X-Api-Key", "value_set": True}),
        (AUTHS[4], {"method": "hmac_sha256", "secret_set": True}),
    ],
)
def test_public_dict(auth: Any, expected: dict[str, Any]) -> None:
    config = make(auth=auth, operations={Operation.BUY}, failure_mode=FailureMode.OPEN)
    assert config.to_public_dict() == {
        "url": URL,
        "operations": {"buy": True, "sell": False, "read": False},
        "timeout_seconds": 3.0,
        "failure_mode": "open",
        "cache_ttl_seconds": 30.0,
        "auth": expected,
    }


def test_storage_form_keeps_secrets_apart() -> None:
    config = make(auth=BasicAuth(username="rampwire", password=Secret("pw_secret_value")))
    stored = config.to_storage()
    assert stored == StoredConfig(
        document={
            "version": 1,
            "url": URL,
            "operations": {"buy": True, "sell": True, "read": True},
            "timeout_seconds": 3.0,
            "failure_mode": "closed",
            "cache_ttl_seconds": 30.0,
            "auth": {"method": "basic", "username": "rampwire"},
        },
        secrets={"password": Secret("pw_secret_value")},
    )
    assert "pw_secret_value" not in repr(stored)


@pytest.mark.parametrize("auth", AUTHS)
def test_storage_round_trip(auth: Any) -> None:
    config = make(auth=auth, operations={Operation.SELL}, cache_ttl_seconds=0)
    stored = config.to_storage()
    plain = {name: secret.reveal() for name, secret in stored.secrets.items()}
    assert AuthorizationConfig.from_storage(stored.document, plain) == config
    assert AuthorizationConfig.from_storage(stored.document, stored.secrets) == config


def test_operations_missing_from_storage_are_enabled() -> None:
    document = make().to_storage().document
    document["operations"] = {"read": False}
    config = AuthorizationConfig.from_storage(document, {"token": "tok"})
    assert config.operations == {Operation.BUY, Operation.SELL}


def _document(**changes: Any) -> dict[str, Any]:
    document = make().to_storage().document
    document.update(changes)
    return {key: value for key, value in document.items() if value is not ...}


@pytest.mark.parametrize(
    ("document", "secrets", "message"),
    [
        (_document(version=2), {"token": "t"}, "unknown stored format version 2"),
        (_document(version=...), {"token": "t"}, "unknown stored format version None"),
        (_document(extra=1), {"token": "t"}, "unknown fields in the stored config: extra"),
        (_document(url=None), {"token": "t"}, "url must be a string"),
        (_document(auth="bearer"), {"token": "t"}, "auth must be a JSON object"),
        (_document(auth={"method": "oauth"}), {}, "auth.method must be one of bearer, basic"),
        (_document(auth={"method": "bearer"}), {}, "the secret auth.token is missing"),
        (_document(auth={"method": "bearer"}), {"token": 5}, "auth.token must be a string"),
        (_document(auth={"method": "basic"}), {"password": "p"}, "auth.username must be a string"),
        (
            _document(auth={"method": "bearer", "name": "X"}),
            {"token": "t"},
            "unknown fields for method bearer: name",
        ),
        (_document(operations=["buy"]), {"token": "t"}, "operations must be an object"),
        (_document(operations={"mint": True}), {"token": "t"}, "unknown operation 'mint'"),
        (_document(operations={"buy": "yes"}), {"token": "t"}, "operations.buy must be true"),
        (_document(timeout_seconds="3"), {"token": "t"}, "timeout_seconds must be a number"),
    ],
)
def test_malformed_storage_raises_only_config_errors(
    document: dict[str, Any], secrets: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidAuthorizationConfig) as caught:
        AuthorizationConfig.from_storage(document, secrets)
    assert message in caught.value.message


def test_storage_document_must_be_a_mapping() -> None:
    with pytest.raises(InvalidAuthorizationConfig, match="must be a JSON object"):
        AuthorizationConfig.from_storage([], {})  # type: ignore[arg-type]


@given(
    operations=st.frozensets(st.sampled_from(list(Operation))),
    timeout=st.floats(min_value=0.001, max_value=30),
    ttl=st.floats(min_value=0, max_value=3600),
    mode=st.sampled_from(list(FailureMode)),
    auth=st.sampled_from(AUTHS),
)
def test_storage_round_trip_property(
    operations: frozenset[Operation], timeout: float, ttl: float, mode: FailureMode, auth: Any
) -> None:
    config = make(
        auth=auth,
        operations=operations,
        timeout_seconds=timeout,
        cache_ttl_seconds=ttl,
        failure_mode=mode,
    )
    stored = config.to_storage()
    assert AuthorizationConfig.from_storage(stored.document, stored.secrets) == config
