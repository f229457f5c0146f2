"""rampwire's ed25519 webhook key and the standard dialect's v1a signing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from rampwire.dialects import InvalidCredentials, standard
from rampwire.dialects.ed25519 import generate_webhook_key, load_webhook_key, public_keys
from rampwire.receiver import Verifier

NOW = datetime(2026, 12, 5, tzinfo=UTC)
BODY = b'{"id":"evt_1"}'


def test_the_sealed_seed_reads_back_as_the_same_key() -> None:
    key = generate_webhook_key()
    again = load_webhook_key(key.seed())
    assert (again.kid, again.public_key) == (key.kid, key.public_key)
    assert key.seed() not in repr(key)


def test_the_published_document_holds_public_halves_only() -> None:
    key = generate_webhook_key()
    [jwk] = public_keys([key])["keys"]
    assert "d" not in jwk and key.seed() not in str(jwk)
    assert base64.b64decode(jwk["whpk"].removeprefix("whpk_")) == base64.urlsafe_b64decode(
        jwk["x"] + "="
    )


@pytest.mark.parametrize("hmac_too", [True, False])
def test_standard_signing_adds_v1a_and_the_kit_verifies_it(hmac_too: bool) -> None:
    key = generate_webhook_key()
    secret = standard.generate_secret()
    credentials = standard.StandardCredentials(
        secrets=(standard.Secret(secret),), ed25519_key=key.private, hmac_signatures=hmac_too
    )
    headers = standard.sign("evt_1", BODY, credentials, now=NOW).headers
    versions = [s.partition(",")[0] for s in headers["webhook-signature"].split()]
    assert versions == (["v1a", "v1"] if hmac_too else ["v1a"])
    assert Verifier(public_keys=key.public_key).verify(headers, BODY, now=NOW)


def test_v1a_only_without_a_key_is_refused() -> None:
    with pytest.raises(InvalidCredentials):
        standard.StandardCredentials(
            secrets=(standard.Secret(standard.generate_secret()),), hmac_signatures=False
        )


def test_a_seed_that_is_not_one_is_refused() -> None:
    with pytest.raises(InvalidCredentials):
        load_webhook_key(base64.b64encode(b"short").decode())
