"""ProviderVerifier: each provider's delivery checked by that dialect's code; every refusal is
the kit's one error, with a reason; unusable secrets are refused when it is built."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.dialects.strategies import plain_order
from tests.unit.dialects.support import NOW, encode, secrets_for

from rampwire.dialects import DialectName
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.errors import ConfigError
from rampwire.receiver import ProviderVerifier, WebhookVerificationError

KNOWN_HEADERS = [
    "revolut-request-timestamp", "revolut-signature", "x-saber-timestamp", "x-saber-signature",
    "fireblocks-signature", "fireblocks-webhook-signature", "content-type",
]  # fmt: skip
PROVIDERS = [d for d in DialectName if d is not DialectName.STANDARD]


@functools.cache
def verifier_for(name: DialectName) -> ProviderVerifier:
    return ProviderVerifier(name.value, secrets_for(name))


def signed(name: DialectName) -> tuple[dict[str, str], bytes]:
    order = plain_order(Side.BUY, OrderStatus.COMPLETED, Provider(name.value))
    request = encode(name, order, OrderStatus.COMPLETED)
    return request.headers, request.body


@pytest.mark.parametrize("name", PROVIDERS, ids=str)
def test_a_providers_request_verifies_and_a_changed_one_does_not(name: DialectName) -> None:
    verifier = verifier_for(name)
    headers, body = signed(name)
    [event] = verifier.verify(headers, body, now=NOW)
    assert event.dialect is name
    with pytest.raises(WebhookVerificationError) as caught:
        verifier.verify(headers, body[:-2] + b"x" + body[-1:], now=NOW)
    assert caught.value.reason in {"signature_mismatch", "malformed_payload"}


@pytest.mark.parametrize("name", PROVIDERS, ids=str)
@settings(deadline=None)  # no timing assertions: RSA verification is slow on a busy machine
@given(
    headers=st.dictionaries(
        st.sampled_from(KNOWN_HEADERS) | st.text(max_size=30), st.text(max_size=80)
    ),
    body=st.binary() | st.sampled_from([b'{"data": "a.b.c"}', b"{}", b"[]", b'{"id": 1}']),
)
def test_whatever_arrives_only_the_one_error_leaves(
    name: DialectName, headers: dict[str, str], body: bytes
) -> None:
    try:
        verifier_for(name).verify(headers, body, now=NOW)
    except WebhookVerificationError:
        pass


@pytest.mark.parametrize(
    ("dialect", "secrets"),
    [("standard", ["whsec_AAAA"]), ("paypal", ["x"]), ("fireblocks", ["not a key"])],
)
def test_unusable_dialects_and_secrets_are_refused_when_built(
    dialect: str, secrets: list[str]
) -> None:
    with pytest.raises(ConfigError):
        ProviderVerifier(dialect, secrets)
