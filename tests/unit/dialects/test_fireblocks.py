"""The Fireblocks dialect: envelopes, detached RS512 JWS, legacy signature, statuses."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal
from typing import Any, cast

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet, RSAKey

from rampwire.dialects import (
    DialectName,
    FireblocksCredentials,
    InvalidCredentials,
    MalformedHeader,
    MalformedPayload,
    MissingHeader,
    OutboundEvent,
    SignatureMismatch,
    UnknownKey,
    UnsupportedAlgorithm,
)
from rampwire.dialects import fireblocks as fb
from rampwire.dialects.jose import (
    b64url_encode,
    generate_signing_key,
    jwks,
    load_jwks,
    load_public_pem,
    private_key_pem,
    public_key_pem,
)
from rampwire.dialects.samples import sample_order
from rampwire.domain.execution import ExecutionType, StepStatus, StepType
from rampwire.domain.money import Crypto, FeeAmountType, FeeType, Money
from rampwire.domain.orders import Failure, FailureReason, OrderStatus, Provider, Side
from rampwire.domain.payments import IbanInstructions

from . import strategies
from .support import NOW, check_round_trip, decode_or_dialect_error, encode, signing_key

S = OrderStatus
KEY = signing_key()
CREDS = FireblocksCredentials(signing_key=KEY)  # verifies with the signing key's public half
VERIFY = FireblocksCredentials(verify_keys=load_jwks(orjson.dumps(jwks([KEY]))))
SEED_EVENT: dict[str, Any] = {"event": {"type": "order.updated", "data": {
    "id": "ramp-abc123def456", "status": "PROCESSING", "createdAt": "2024-01-15T10:30:00.000Z",
    "updatedAt": "2024-01-15T10:35:00.000Z",
    "executionResponseDetails": {"type": "QUOTE", "quoteId": "quote-xyz789", "reQuote": False,
        "side": "BUY", "baseAmount": "1000.00", "quoteAmount": "950.50", "baseAssetId": "USD",
        "quoteAssetId": "BTC", "baseAssetRail": "FIAT", "quoteAssetRail": "BLOCKCHAIN"},
    "executionSteps": [{"type": "APPROVE", "status": "COMPLETED", "txId": "tx-approve-001"},
                       {"type": "EXECUTE", "status": "PROCESSING", "txId": "tx-execute-002"},
                       {"type": "SETTLEMENT", "status": "WAITING"}],
    "paymentInstructions": {"type": "IBAN", "referenceId": "ref-123456", "address": {
        "accountHolder": {"name": "John Doe", "address": "123 Main Street", "city": "New York",
                          "country": "US", "subdivision": "NY", "postalCode": "10001"},
        "iban": "GB82WEST12345698765432"}},
    "receipt": {"type": "BLOCKCHAIN", "txHash": "0x1234567890abcdef1234567890abcdef1234567890abcdef"
                "1234567890abcdef", "amount": "0.025"},
    "settlement": {"type": "DVP", "sourceAccount": {"accountId": "vault-account-123",
                   "type": "VAULT_ACCOUNT"}, "destinationAccount": {
                   "accountId": "exchange-account-456", "type": "EXCHANGE_ACCOUNT"}},
    "via": {"type": "PROVIDER_ACCOUNT", "accountId": "provider-account-789",
            "providerId": "provider-coinbase"},
    "customerInternalReferenceId": "customer-ref-001", "note": "Monthly crypto purchase",
    "expiresAt": "2024-01-15T11:30:00.000Z", "createdBy": "user-12345",
    "generalFees": [
        {"feeType": "ORDER", "assetId": "USD", "amountType": "FIXED", "amount": "10.00"},
        {"feeType": "NETWORK", "assetId": "BTC", "amountType": "BPS", "amount": 50}],
}}}  # fmt: skip


def signed(body: bytes, key: Any = KEY) -> dict[str, str]:
    return fb.sign(body, FireblocksCredentials(signing_key=key))


def test_the_seed_example_decodes_field_by_field() -> None:
    body = orjson.dumps(SEED_EVENT)
    [event] = fb.decode(signed(body), body, VERIFY, now=NOW)
    assert (event.status, event.side, event.provider_order_id, event.issues) == (
        S.PROCESSING,
        Side.BUY,
        "ramp-abc123def456",
        (),
    )
    assert event.provider_event == "order.updated/PROCESSING"
    assert event.occurred_at.isoformat() == "2024-01-15T10:35:00+00:00"
    assert event.dedupe_key == "ramp-abc123def456:PROCESSING:2024-01-15T10:35:00.000Z"
    patch = event.patch
    assert patch["fiat"] == Money(currency="USD", amount=Decimal("1000.00"))
    assert patch["crypto"] == Crypto(asset="BTC", amount=Decimal("950.50"))
    execution = patch["execution"]
    assert (execution.type, execution.quote_id, execution.requote) == (
        ExecutionType.QUOTE,
        "quote-xyz789",
        False,
    )
    assert (execution.base_asset_rail, execution.quote_asset_rail) == ("FIAT", "BLOCKCHAIN")
    assert [(s.type, s.status, s.tx_id) for s in patch["execution_steps"]] == [
        (StepType.APPROVE, StepStatus.COMPLETED, "tx-approve-001"),
        (StepType.EXECUTE, StepStatus.PROCESSING, "tx-execute-002"),
        (StepType.SETTLEMENT, StepStatus.WAITING, None),
    ]
    instructions = patch["payment"].instructions
    assert isinstance(instructions, IbanInstructions)
    assert instructions.reference_id == "ref-123456"
    assert instructions.address.iban == "GB82WEST12345698765432"
    assert instructions.address.account_holder.postal_code == "10001"
    assert patch["receipt"].amount == Decimal("0.025")
    assert patch["settlement"].source_account.account_id == "vault-account-123"
    assert patch["settlement"].destination_account.account_id == "exchange-account-456"
    assert patch["via"].provider_id == "provider-coinbase"
    assert patch["references"].customer_internal_reference_id == "customer-ref-001"
    assert patch["references"].created_by == "user-12345"
    assert patch["note"] == "Monthly crypto purchase"
    assert patch["expires_at"].isoformat() == "2024-01-15T11:30:00+00:00"
    [order_fee, network_fee] = patch["fees"]
    assert (order_fee.type, order_fee.amount, order_fee.asset, order_fee.amount_type) == (
        FeeType.ORDER,
        Decimal("10.00"),
        "USD",
        FeeAmountType.FIXED,
    )
    assert (network_fee.type, network_fee.amount, network_fee.amount_type) == (
        FeeType.NETWORK,
        Decimal(50),
        FeeAmountType.BPS,
    )


def test_the_documented_envelope_is_emitted_by_default() -> None:
    order = sample_order(DialectName.FIREBLOCKS, S.COMPLETED, Side.SELL, now=NOW)
    body = orjson.loads(encode(DialectName.FIREBLOCKS, order, S.COMPLETED, CREDS).body)
    assert list(body) == [
        "id",
        "resourceId",
        "webhookId",
        "workspaceId",
        "eventType",
        "createdAt",
        "data",
    ]
    assert uuid.UUID(body["id"]) and uuid.UUID(body["webhookId"]) and uuid.UUID(body["workspaceId"])
    assert (body["resourceId"], body["eventType"]) == (order.provider_order_id, "order.updated")
    assert isinstance(body["createdAt"], int)
    assert body["data"]["status"] == "COMPLETED"
    assert body["data"]["executionResponseDetails"]["side"] == "SELL"
    [event] = fb.decode(*_headers_body(order, S.COMPLETED), CREDS, now=NOW)
    assert event.dedupe_key == body["id"]


def _headers_body(order: Any, status: OrderStatus, creds: Any = CREDS) -> tuple[Any, bytes]:
    request = encode(DialectName.FIREBLOCKS, order, status, creds)
    return request.headers, request.body


def test_the_notification_id_is_stable_across_retries() -> None:
    order = sample_order(DialectName.FIREBLOCKS, S.PROCESSING, Side.BUY, now=NOW)
    first, again = (
        encode(DialectName.FIREBLOCKS, order, S.PROCESSING, CREDS),
        encode(DialectName.FIREBLOCKS, order, S.PROCESSING, CREDS),
    )
    assert orjson.loads(first.body)["id"] == orjson.loads(again.body)["id"]


def test_the_seed_envelope_can_be_emitted_on_request() -> None:
    creds = FireblocksCredentials(signing_key=KEY, envelope=fb.Envelope.SEED)
    order = sample_order(DialectName.FIREBLOCKS, S.CREATED, Side.BUY, now=NOW)
    headers, body = _headers_body(order, S.CREATED, creds)
    assert list(orjson.loads(body)) == ["event"]
    assert fb.decode(headers, body, CREDS, now=NOW)[0].status is S.CREATED


def test_joserfc_verifies_our_detached_jws_with_our_jwks() -> None:
    order = sample_order(DialectName.FIREBLOCKS, S.PROCESSING, Side.BUY, now=NOW)
    headers, body = _headers_body(order, S.PROCESSING)
    signature = headers["Fireblocks-Webhook-Signature"]
    assert signature.count(".") == 2 and ".." in signature  # detached
    verified = jws.deserialize_compact(
        signature, KeySet.import_key_set(cast(Any, jwks([KEY]))), algorithms=["RS512"], payload=body
    )
    assert verified.protected == {"alg": "RS512", "kid": KEY.kid}
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(
            signature,
            KeySet.import_key_set(cast(Any, jwks([KEY]))),
            algorithms=["RS512"],
            payload=body + b" ",
        )


def test_we_verify_a_detached_jws_made_by_joserfc() -> None:
    body = orjson.dumps(SEED_EVENT)
    token = jws.serialize_compact(
        {"alg": "RS512", "kid": KEY.kid},
        body,
        RSAKey.import_key(private_key_pem(KEY)),
        algorithms=["RS512"],
    )
    detached = jws.detach_content(token)
    assert fb.decode({"Fireblocks-Webhook-Signature": detached}, body, VERIFY, now=NOW)
    assert fb.decode({"Fireblocks-Webhook-Signature": token}, body, VERIFY, now=NOW)  # attached


def test_the_legacy_signature_is_rsa_sha512_over_the_body() -> None:
    order = sample_order(DialectName.FIREBLOCKS, S.CREATED, Side.BUY, now=NOW)
    headers, body = _headers_body(order, S.CREATED)
    KEY.key.public_key().verify(
        base64.b64decode(headers["Fireblocks-Signature"]), body, padding.PKCS1v15(), hashes.SHA512()
    )
    legacy_only = {"Fireblocks-Signature": headers["Fireblocks-Signature"]}
    with pytest.raises(MissingHeader):
        fb.decode(legacy_only, body, CREDS, now=NOW)  # not accepted unless configured
    accepting = FireblocksCredentials(
        verify_keys=(load_public_pem(public_key_pem(KEY)),), accept_legacy_signature=True
    )
    assert fb.decode(legacy_only, body, accepting, now=NOW)
    with pytest.raises(SignatureMismatch):
        fb.decode(legacy_only, body + b" ", accepting, now=NOW)
    with pytest.raises(MalformedHeader):
        fb.decode({"Fireblocks-Signature": "%%%"}, body, accepting, now=NOW)
    jws_header = headers["Fireblocks-Webhook-Signature"]
    broken = {**headers, "Fireblocks-Webhook-Signature": jws_header[:-4]}
    with pytest.raises(SignatureMismatch):
        fb.decode(broken, body, accepting, now=NOW)  # a bad JWS never falls back to legacy


def test_a_bare_pem_key_matches_any_kid_and_a_jwks_key_only_its_own() -> None:
    body = orjson.dumps(SEED_EVENT)
    other = fb.FireblocksCredentials(
        signing_key=fb.load_signing_key(private_key_pem(KEY), kid="fireblocks-2024")
    )
    headers = fb.sign(body, other)
    bare = FireblocksCredentials(verify_keys=(load_public_pem(public_key_pem(KEY)),))
    assert fb.decode(headers, body, bare, now=NOW)
    with pytest.raises(UnknownKey):
        fb.decode(headers, body, VERIFY, now=NOW)


def _header(header: dict[str, Any], body: bytes, key: Any = KEY, alg: str = "RS512") -> str:
    protected = b64url_encode(orjson.dumps(header))
    message = f"{protected}.{b64url_encode(body)}".encode()
    if alg == "HS512":
        import hashlib
        import hmac

        signature = hmac.new(public_key_pem(KEY), message, hashlib.sha512).digest()
    else:
        signature = key.key.sign(
            message, padding.PKCS1v15(), hashes.SHA256() if alg == "RS256" else hashes.SHA512()
        )
    return f"{protected}..{b64url_encode(signature)}"


BODY = orjson.dumps(SEED_EVENT)
OTHER = generate_signing_key(2048)
TAMPERING: list[tuple[str, Any, type[Exception]]] = [
    (
        "body byte flipped",
        lambda: (signed(BODY), BODY.replace(b"1000.00", b"9000.00")),
        SignatureMismatch,
    ),
    (
        "other key, same kid",
        lambda: (
            {
                "Fireblocks-Webhook-Signature": _header(
                    {"alg": "RS512", "kid": KEY.kid}, BODY, key=OTHER
                )
            },
            BODY,
        ),
        SignatureMismatch,
    ),
    ("unknown kid", lambda: (signed(BODY, OTHER), BODY), UnknownKey),
    (
        "no kid",
        lambda: ({"Fireblocks-Webhook-Signature": _header({"alg": "RS512"}, BODY)}, BODY),
        UnknownKey,
    ),
    (
        "alg none",
        lambda: (
            {
                "Fireblocks-Webhook-Signature": b64url_encode(
                    b'{"alg":"none","kid":"' + KEY.kid.encode() + b'"}'
                )
                + ".."
            },
            BODY,
        ),
        UnsupportedAlgorithm,
    ),
    (
        "RS256",
        lambda: (
            {
                "Fireblocks-Webhook-Signature": _header(
                    {"alg": "RS256", "kid": KEY.kid}, BODY, alg="RS256"
                )
            },
            BODY,
        ),
        UnsupportedAlgorithm,
    ),
    (
        "HS512 with the public key",
        lambda: (
            {
                "Fireblocks-Webhook-Signature": _header(
                    {"alg": "HS512", "kid": KEY.kid}, BODY, alg="HS512"
                )
            },
            BODY,
        ),
        UnsupportedAlgorithm,
    ),
    ("missing header", lambda: ({}, BODY), MissingHeader),
    (
        "truncated signature",
        lambda: (
            {"Fireblocks-Webhook-Signature": signed(BODY)["Fireblocks-Webhook-Signature"][:-4]},
            BODY,
        ),
        SignatureMismatch,
    ),
    (
        "payload of another body",
        lambda: (
            {
                "Fireblocks-Webhook-Signature": signed(BODY)[
                    "Fireblocks-Webhook-Signature"
                ].replace("..", "." + b64url_encode(b"{}") + ".")
            },
            BODY,
        ),
        SignatureMismatch,
    ),
    ("not a JWS", lambda: ({"Fireblocks-Webhook-Signature": "abc"}, BODY), MalformedHeader),
    ("signed non-JSON", lambda: (signed(b"\x00"), b"\x00"), MalformedPayload),
    ("signed unknown shape", lambda: (signed(b'{"type":"x"}'), b'{"type":"x"}'), MalformedPayload),
    (
        "order without status",
        lambda: (
            signed(b'{"event":{"type":"order.updated","data":{"id":"x"}}}'),
            b'{"event":{"type":"order.updated","data":{"id":"x"}}}',
        ),
        MalformedPayload,
    ),
]


@pytest.mark.parametrize(("case", "make", "error"), TAMPERING, ids=[c[0] for c in TAMPERING])
def test_tampering_is_refused(case: str, make: Any, error: type[Exception]) -> None:
    headers, body = make()
    with pytest.raises(error):
        fb.decode(headers, body, VERIFY, now=NOW)


def test_notifications_other_than_orders_decode_to_nothing() -> None:
    body = b'{"id":"n1","eventType":"transaction.created","createdAt":1,"data":{}}'
    assert fb.decode(signed(body), body, VERIFY, now=NOW) == []


def test_credentials_need_some_key() -> None:
    with pytest.raises(InvalidCredentials):
        FireblocksCredentials()
    with pytest.raises(InvalidCredentials):
        fb.encode(
            OutboundEvent(id="e", type="order.created", created_at=NOW),
            sample_order(DialectName.FIREBLOCKS, S.CREATED, Side.BUY, now=NOW),
            VERIFY,
            now=NOW,
        )


def test_credentials_from_secrets_read_private_public_and_jwks() -> None:
    made = fb.credentials_from_secrets(
        [
            private_key_pem(KEY).decode(),
            public_key_pem(OTHER).decode(),
            orjson.dumps(jwks([OTHER])).decode(),
        ]
    )
    assert made.signing_key is not None and made.signing_key.kid == KEY.kid
    assert [k.kid for k in made.verify_keys] == [KEY.kid, None, OTHER.kid]


STATUS_ROWS = [
    ("CREATED", None, S.CREATED),
    ("PENDING_USER_ACTION", None, S.PENDING_USER_ACTION),
    ("AWAITING_PAYMENT", None, S.AWAITING_PAYMENT),
    ("PROCESSING", None, S.PROCESSING),
    ("COMPLETED", None, S.COMPLETED),
    ("FAILED", None, S.FAILED),
    ("FAILED", "INSUFFICIENT_FUNDS", S.FAILED),
    ("FAILED", "ORDER_EXPIRED", S.EXPIRED),
    ("FAILED", "REFUNDED", S.REFUNDED),
    ("CANCELLED", None, S.CANCELLED),
    ("CANCELED", None, S.CANCELLED),
    ("SOMETHING_NEW", None, None),
]


@pytest.mark.parametrize(("wire", "reason", "status"), STATUS_ROWS)
def test_every_fireblocks_status_reads_as_a_canonical_one(
    wire: str, reason: str | None, status: OrderStatus | None
) -> None:
    data: dict[str, Any] = {"id": "o1", "status": wire}
    if reason:
        data["failure"] = {"reason": reason}
    body = orjson.dumps({"id": "n", "eventType": "order.updated", "createdAt": 1, "data": data})
    assert fb.decode(signed(body), body, VERIFY, now=NOW)[0].status == status


@pytest.mark.parametrize("status", list(S))
def test_every_status_has_a_fireblocks_status(status: OrderStatus) -> None:
    order = sample_order(DialectName.FIREBLOCKS, status, Side.BUY, now=NOW)
    data = orjson.loads(encode(DialectName.FIREBLOCKS, order, status, CREDS).body)["data"]
    assert data["status"] == fb.TABLE.to_provider(status, Side.BUY).status
    if status in (S.EXPIRED, S.REFUNDED):
        assert (
            data["failure"]["reason"]
            == {S.EXPIRED: "ORDER_EXPIRED", S.REFUNDED: "REFUNDED"}[status]
        )
    assert fb.decode(*_headers_body(order, status), CREDS, now=NOW)[0].status == (
        status
        if status in (S.EXPIRED, S.REFUNDED)
        else fb.TABLE.from_provider(fb.TABLE.to_provider(status, Side.BUY))
    )


def test_the_policy_matches_fireblocks() -> None:
    policy = fb.POLICY
    assert policy.max_attempts == 10
    assert policy.retry_delays == (10, 30, 120, 300, 900, 1800, 3600, 7200, 14400)
    assert [policy.should_retry(c) for c in (None, 500, 503, 400, 404, 408, 410, 429)] == [
        True,
        True,
        True,
        False,
        False,
        True,
        False,
        True,
    ]


@settings(max_examples=40, deadline=None)
@given(data=st.data(), side=st.sampled_from(list(Side)), status=strategies.statuses)
def test_round_trip(data: Any, side: Side, status: OrderStatus) -> None:
    check_round_trip(DialectName.FIREBLOCKS, data.draw(strategies.fireblocks(side, status)), status)


def test_a_failed_order_whose_reason_is_expiry_reads_back_as_expired() -> None:
    order = strategies.plain_order(
        Side.BUY, S.FAILED, Provider.FIREBLOCKS, failure=Failure(reason=FailureReason.ORDER_EXPIRED)
    )
    assert check_round_trip(DialectName.FIREBLOCKS, order, S.FAILED).status is S.EXPIRED


@settings(max_examples=50, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["Fireblocks-Webhook-Signature", "Fireblocks-Signature", "z"]), st.text()
    ),
    body=st.binary(max_size=100),
)
def test_random_requests_raise_only_dialect_errors(headers: dict[str, str], body: bytes) -> None:
    decode_or_dialect_error(DialectName.FIREBLOCKS, headers, body)


@settings(max_examples=60, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "status",
                "createdAt",
                "updatedAt",
                "executionResponseDetails",
                "executionSteps",
                "paymentInstructions",
                "receipt",
                "settlement",
                "via",
                "failure",
                "generalFees",
                "expiresAt",
                "note",
            ]
        ),
        strategies.json_values,
    )
)
def test_authentic_garbage_raises_only_dialect_errors(data: dict[str, Any]) -> None:
    body = orjson.dumps({"id": "n1", "eventType": "order.updated", "createdAt": 5, "data": data})
    decode_or_dialect_error(DialectName.FIREBLOCKS, signed(body), body)
