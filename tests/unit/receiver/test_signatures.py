"""The receiver kit's Standard Webhooks verifier: v1 secrets (checked against the official
``standardwebhooks`` signer), v1a ed25519 keys, the window both ways, and one error type."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

import rampwire.receiver
from rampwire.dialects import standard
from rampwire.errors import ConfigError
from rampwire.receiver import Verifier, WebhookVerificationError, verify

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
BODY = b'{"id":"evt_1","type":"order.created","data":{}}'
OLD, NEW = standard.generate_secret(), standard.generate_secret()


def official_headers(secret: str, *, at: datetime = NOW, msg_id: str = "evt_1") -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, at, BODY)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def ed25519_pair() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, "whpk_" + base64.b64encode(raw).decode()


def v1a_headers(private: Ed25519PrivateKey, *, at: datetime = NOW) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    signature = private.sign(f"evt_1.{timestamp}.".encode() + BODY)
    return {
        "Webhook-Id": "evt_1",
        "Webhook-Timestamp": timestamp,
        "Webhook-Signature": "v1a," + base64.b64encode(signature).decode(),
    }


def test_the_official_signature_verifies_and_the_body_comes_back() -> None:
    assert verify(official_headers(NEW), BODY, NEW, now=NOW)["type"] == "order.created"


def test_rampwire_signing_verifies_with_every_secret_of_a_rotation() -> None:
    credentials = standard.credentials_from_secrets([NEW, OLD])
    headers = standard.sign("evt_1", BODY, credentials, now=NOW).headers
    assert len(headers["webhook-signature"].split()) == 2
    assert Verifier(OLD).verify_signature(headers, BODY, now=NOW) == "evt_1"
    assert Verifier(NEW).verify_signature(headers, BODY, now=NOW) == "evt_1"
    # and a receiver that still holds both secrets takes a request signed with either
    assert Verifier([NEW, OLD]).verify(official_headers(OLD), BODY, now=NOW)


@pytest.mark.parametrize(
    ("skew", "reason"),
    [
        (timedelta(minutes=-5, seconds=-1), "too_old"),
        (timedelta(minutes=5, seconds=1), "in_the_future"),
    ],
)
def test_outside_the_window_either_way_is_refused(skew: timedelta, reason: str) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(official_headers(NEW, at=NOW + skew), BODY, NEW, now=NOW)
    assert caught.value.reason == reason


def test_inside_the_window_either_way_is_accepted() -> None:
    for skew in (timedelta(minutes=-5), timedelta(minutes=5)):
        assert verify(official_headers(NEW, at=NOW + skew), BODY, NEW, now=NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-id": None}, "missing_header"),
        ({"webhook-signature": "  "}, "missing_header"),
        ({"webhook-timestamp": "12e3"}, "malformed_header"),
        ({"webhook-timestamp": "١٢٣"}, "malformed_header"),  # digits int() would accept
        ({"webhook-timestamp": "-5"}, "malformed_header"),
        ({"webhook-timestamp": "9" * 40}, "malformed_header"),
        ({"webhook-signature": "v1"}, "malformed_header"),
        ({"webhook-signature": "v1,not base64!"}, "malformed_header"),
        ({"webhook-signature": "v2,AAAA"}, "no_signature"),
        ({"webhook-signature": "v1,AAAA"}, "signature_mismatch"),
    ],
)
def test_bad_headers_raise_the_one_error(change: dict[str, str | None], reason: str) -> None:
    headers = official_headers(NEW)
    for name, value in change.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    with pytest.raises(WebhookVerificationError) as caught:
        verify(headers, BODY, NEW, now=NOW)
    assert caught.value.reason == reason


def test_a_changed_body_or_id_does_not_verify() -> None:
    headers = official_headers(NEW)
    with pytest.raises(WebhookVerificationError, match="matches none"):
        verify(headers, BODY + b" ", NEW, now=NOW)
    with pytest.raises(WebhookVerificationError, match="matches none"):
        verify({**headers, "webhook-id": "evt_2"}, BODY, NEW, now=NOW)


def test_a_signed_body_that_is_not_a_json_object_is_refused() -> None:
    for body in (b"[1]", b"\xff"):
        headers = {
            **official_headers(NEW),
            "webhook-signature": Webhook(NEW).sign("evt_1", NOW, body),
        }
        with pytest.raises(WebhookVerificationError) as caught:
            verify(headers, body, NEW, now=NOW)
        assert caught.value.reason == "malformed_payload"


@given(
    st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "x"]),
        st.text(max_size=80),
    ),
    st.binary(max_size=64),
)
def test_whatever_the_headers_hold_only_the_one_error_leaves(
    headers: dict[str, str], body: bytes
) -> None:
    try:
        Verifier(NEW).verify(headers, body, now=NOW)
    except WebhookVerificationError:
        pass


def test_v1a_ed25519_signatures_verify_with_the_public_key() -> None:
    private, public = ed25519_pair()
    assert Verifier(public_keys=public).verify(v1a_headers(private), BODY, now=NOW)
    _, other = ed25519_pair()
    with pytest.raises(WebhookVerificationError) as caught:
        Verifier(public_keys=other).verify(v1a_headers(private), BODY, now=NOW)
    assert caught.value.reason == "signature_mismatch"


def test_a_v1a_key_does_not_accept_a_v1_only_request_and_the_reverse() -> None:
    private, public = ed25519_pair()
    with pytest.raises(WebhookVerificationError) as caught:
        Verifier(public_keys=public).verify(official_headers(NEW), BODY, now=NOW)
    assert caught.value.reason == "no_signature"
    with pytest.raises(WebhookVerificationError) as caught:
        Verifier(NEW).verify(v1a_headers(private), BODY, now=NOW)
    assert caught.value.reason == "no_signature"


def test_a_short_v1a_signature_is_a_mismatch_not_a_crash() -> None:
    _, public = ed25519_pair()
    headers = {**official_headers(NEW), "webhook-signature": "v1a,AAAA"}
    with pytest.raises(WebhookVerificationError, match="matches none"):
        Verifier(public_keys=public).verify(headers, BODY, now=NOW)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"secrets": "whsec_%%%"}, {"secrets": "whsec_"}, {"public_keys": "whpk_AAAA"}],
)
def test_unusable_secrets_are_refused_when_the_verifier_is_built(kwargs: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Verifier(**kwargs)


def test_the_verifier_never_shows_its_secrets() -> None:
    assert NEW not in repr(Verifier(NEW))


def test_the_kit_exports_what_all_says() -> None:
    for name in rampwire.receiver.__all__:
        assert hasattr(rampwire.receiver, name), name


def test_the_official_package_has_no_v1a_verifier_so_it_refuses_an_ed25519_request() -> None:
    """standardwebhooks 1.3 (Python) verifies v1 only: a v1a-only request is "no match"."""
    private, _ = ed25519_pair()
    official = Webhook(NEW)
    headers = {k.lower(): v for k, v in v1a_headers(private, at=datetime.now(UTC)).items()}
    with pytest.raises(Exception, match="No matching signature"):
        official.verify(BODY, headers)
