"""The Saber dialect: the seed's payloads, three ways to authenticate them."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.dialects import (
    DialectName,
    InvalidCredentials,
    MalformedHeader,
    MalformedPayload,
    MissingHeader,
    SaberAuth,
    SaberCredentials,
    SignatureMismatch,
    SourceRejected,
    TimestampOutOfWindow,
)
from rampwire.dialects import saber as sb
from rampwire.dialects.wire import to_ms
from rampwire.domain.money import Crypto, Money
from rampwire.domain.orders import (
    AmountMismatch,
    Failure,
    FailureReason,
    OrderStatus,
    Payment,
    Provider,
    References,
    Side,
)
from rampwire.settings import Secret

from . import strategies
from .support import NOW, SECRET, check_round_trip, decode_or_dialect_error, encode

S = OrderStatus
CREDS = sb.credentials_from_secrets([SECRET])
TOKEN = SaberCredentials(mode=SaberAuth.TOKEN, url_token=Secret("tok_8f3a9c0d1e2b"))
ALLOWLIST = SaberCredentials(
    mode=SaberAuth.IP_ALLOWLIST, allowed_networks=sb.networks(["203.0.113.0/24", "2001:db8::/32"])
)

# The seed's samples, verbatim (Python dict reprs; the wire is JSON with null)
# fmt: off
SEED: dict[str, dict[str, Any]] = {
    "CREATED": {'failure_code': None, 'crypto_symbol': 'USDT', 'exchange_rate': '85.00000000', 'status': 'CREATED', 'id': 'xxxxxx', 'network': 'BSC', 'fiat_amount': '850.00000000', 'crypto_wallet_address': '0xXXXXXXXXXXXXX', 'tag': None, 'failure_desc': None, 'payment_method': 'upi_transfer', 'crypto_amount': '10.00000000', 'fiat_symbol': 'INR', 'created_at': 1702540033000, 'source_id': 'xxxxxx', 'event': 'CRYPTO_BUY', 'user_id': 'xxxxxx'},  # noqa: E501
    "ONRAMP_INITIATED": {'payment_method': 'upi_transfer', 'source_id': None, 'tag': None, 'exchange_rate': '84.99000000', 'failure_code': None, 'fiat_amount': '2299.00000000', 'created_at': 1694714157000, 'id': 'xxxxxx', 'fiat_symbol': 'INR', 'failure_desc': None, 'crypto_symbol': 'USDT', 'network': 'MATIC', 'crypto_wallet_address': '0xXXXXXXXXXXXXX', 'crypto_amount': '27.05000000', 'status': 'ONRAMP_INITIATED', 'event': 'CRYPTO_BUY', 'user_id': 'xxxxxx'},  # noqa: E501
    "ONRAMP_COMPLETED": {'payment_method': 'upi_transfer', 'source_id': None, 'tag': None, 'exchange_rate': '84.99000000', 'failure_code': None, 'fiat_amount': '2299.00000000', 'created_at': 1694714157000, 'id': 'xxxxxx', 'bank_transaction_id': 'xxxxxx', 'fiat_symbol': 'INR', 'failure_desc': None, 'crypto_symbol': 'USDT', 'network': 'MATIC', 'crypto_wallet_address': '0xXXXXXXXXXXXXX', 'crypto_amount': '27.05000000', 'status': 'ONRAMP_COMPLETED', 'event': 'CRYPTO_BUY', 'user_id': 'xxxxxx'},  # noqa: E501
    "COMPLETED": {'payment_method': 'upi_transfer', 'source_id': None, 'tag': None, 'exchange_rate': '84.99000000', 'failure_code': None, 'fiat_amount': '2299.00000000', 'created_at': 1694714157000, 'id': 'xxxxxx', 'bank_transaction_id': 'xxxxxx', 'fiat_symbol': 'INR', 'failure_desc': None, 'crypto_symbol': 'USDT', 'network': 'MATIC', 'crypto_wallet_address': '0xXXXXXXXXXXXXX', 'crypto_amount': '27.05000000', 'status': 'COMPLETED', 'event': 'CRYPTO_BUY', 'user_id': 'xxxxxx', 'txn_hash': '0xXXXXXXXXXXXXX'},  # noqa: E501
    "FAILED": {'failure_code': 'ONRAMP_FAILED', 'created_at': 1694631289000, 'exchange_rate': '84.99000000', 'fiat_amount': '300.00000000', 'tag': None, 'crypto_symbol': 'USDT', 'network': 'MATIC', 'source_id': None, 'failure_desc': 'Payment not received from the user', 'status': 'FAILED', 'fiat_symbol': 'INR', 'crypto_wallet_address': '0xXXXXXXXXXXXXX', 'payment_method': 'upi_transfer', 'crypto_amount': '3.53000000', 'id': 'xxxxxx', 'event': 'CRYPTO_BUY', 'user_id': 'xxxxxx'},  # noqa: E501
    "ONRAMP_INCONSISTENT": {'crypto_amount': '0.57647100', 'fiat_symbol': 'INR', 'created_at': 1702202538000, 'crypto_wallet_address': '0xXXXXXXXXXXXXX', 'fiat_amount': '49.00000000', 'status': 'ONRAMP_INCONSISTENT', 'crypto_symbol': 'USDT', 'failure_code': None, 'failure_desc': None, 'payment_method': 'upi_transfer', 'tag': None, 'bank_transaction_id': 'xxxxxx', 'source_id': None, 'network': 'MATIC', 'exchange_rate': '85.00000000', 'id': 'xxxxxx', 'event': 'CRYPTO_BUY', 'user_id': 'xxxxxx'},  # noqa: E501
    "REFUND_COMPLETED": {'bank_transaction_id': 'xxxxxx', 'status': 'REFUND_COMPLETED', 'created_at': 1702202538000, 'failure_desc': None, 'crypto_amount': '0.57647100', 'payment_method': 'upi_transfer', 'crypto_wallet_address': '0xXXXXXXXXXXXXX', 'source_id': None, 'id': 'xxxxxx', 'fiat_amount': '49.00000000', 'exchange_rate': '85.00000000', 'tag': None, 'failure_code': None, 'crypto_symbol': 'USDT', 'network': 'MATIC', 'fiat_symbol': 'INR', 'event': 'CRYPTO_BUY', 'user_id': 'xxxxxx'},  # noqa: E501
}
# fmt: on
SEED_STATUS = {
    "CREATED": S.PAYMENT_SUBMITTED,
    "ONRAMP_INITIATED": S.PAYMENT_VERIFYING,
    "ONRAMP_COMPLETED": S.PAYMENT_RECEIVED,
    "COMPLETED": S.COMPLETED,
    "FAILED": S.FAILED,
    "ONRAMP_INCONSISTENT": S.AMOUNT_MISMATCH,
    "REFUND_COMPLETED": S.REFUNDED,
}
DEPOSIT: dict[str, Any] = {
    "transaction_type": "DEPOSIT",
    "status": "COMPLETED",
    "event": "deposit",
    "id": "sell-1",
    "crypto_symbol": "USDT",
    "network": "BSC",
    "amount": "10.00000000",
    "usd_value": "10.00",
    "created_at": 1668590000000,
    "updated_at": 1668590413000,
    "txn_hash": "0xdep",
}
SELL: dict[str, Any] = {
    "event": "SELL",
    "transaction_status": "COMPLETED",
    "transaction_id": "sell-1",
    "transfer_type": "bank_transfer",
    "bank_reference_id": "UTR123",
    "usd_amount": "10.00",
    "fiat_amount": "850.00000000",
    "invested_at": "2022-11-16T09:30:13",
}


def sign(body: bytes, *, secret: str = SECRET, ms: int | None = None) -> dict[str, str]:
    """rampwire's Saber scheme, written out independently of the module under test."""
    timestamp = str(to_ms(NOW) if ms is None else ms)
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return {"X-Saber-Timestamp": timestamp, "X-Saber-Signature": digest.hexdigest()}


def decode_json(payload: dict[str, Any]) -> Any:
    body = orjson.dumps(payload)
    [event] = sb.decode(sign(body), body, CREDS, now=NOW)
    return event


@pytest.mark.parametrize("name", SEED)
def test_every_seed_sample_decodes_to_its_status(name: str) -> None:
    event = decode_json(SEED[name])
    assert event.status is SEED_STATUS[name]
    assert (event.side, event.provider_order_id, event.issues) == (Side.BUY, "xxxxxx", ())
    assert event.provider_event == f"CRYPTO_BUY/{name}"
    assert event.dedupe_key == f"xxxxxx:CRYPTO_BUY:{name}"
    assert event.occurred_at == NOW  # created_at is the order's, not the event's
    assert event.patch["wallet_address"] == "0xXXXXXXXXXXXXX"


def test_the_created_sample_field_by_field() -> None:
    patch = decode_json(SEED["CREATED"]).patch
    assert patch == {
        "fiat": Money(currency="INR", amount=Decimal("850")),
        "crypto": Crypto(asset="USDT", network="BSC", amount=Decimal("10")),
        "wallet_address": "0xXXXXXXXXXXXXX",
        "exchange_rate": Decimal("85"),
        "payment": Payment(method="upi_transfer"),
        "references": References(user_id="xxxxxx", source_id="xxxxxx"),
    }


def test_the_completed_failed_and_inconsistent_samples_carry_their_extras() -> None:
    completed = decode_json(SEED["COMPLETED"]).patch
    assert completed["transaction_hash"] == "0xXXXXXXXXXXXXX"
    assert completed["payment"] == Payment(method="upi_transfer", bank_transaction_id="xxxxxx")
    failed = decode_json(SEED["FAILED"]).patch
    assert failed["failure"] == Failure(
        reason=FailureReason.PAYMENT_NOT_RECEIVED,
        description="Payment not received from the user",
        provider_code="ONRAMP_FAILED",
    )
    mismatch = decode_json(SEED["ONRAMP_INCONSISTENT"]).patch
    assert mismatch["amount_mismatch"] == AmountMismatch(
        received=Decimal("49"), currency="INR", bank_transaction_id="xxxxxx"
    )
    assert "fiat" not in mismatch and "crypto" not in mismatch  # the payment found, not the order
    assert "fiat" not in decode_json(SEED["REFUND_COMPLETED"]).patch


def test_off_ramp_shapes_decode() -> None:
    deposit = decode_json(DEPOSIT)
    assert (deposit.status, deposit.side, deposit.provider_order_id) == (
        S.PAYMENT_RECEIVED,
        Side.SELL,
        "sell-1",
    )
    assert deposit.patch == {
        "crypto": Crypto(asset="USDT", network="BSC", amount=Decimal(10)),
        "transaction_hash": "0xdep",
    }
    assert deposit.occurred_at.isoformat() == "2022-11-16T09:20:13+00:00"  # updated_at
    sell = decode_json(SELL)
    assert (sell.status, sell.side, sell.dedupe_key) == (
        S.COMPLETED,
        Side.SELL,
        "sell-1:SELL:COMPLETED",
    )
    assert sell.patch == {
        "fiat": Money(currency="INR", amount=Decimal(850)),
        "payment": Payment(method="bank_transfer", bank_reference_id="UTR123"),
    }
    assert decode_json({**SELL, "transaction_status": "processing"}).status is S.PROCESSING
    withdraw = decode_json({**DEPOSIT, "event": "withdraw", "transaction_type": "WITHDRAW"})
    assert (withdraw.status, withdraw.patch) == (S.REFUNDED, {})


def test_encode_writes_the_seed_shape() -> None:
    order = strategies.plain_order(
        Side.BUY,
        S.COMPLETED,
        Provider.SABER,
        fiat=Money(currency="INR", amount=Decimal("850")),
        crypto=Crypto(asset="USDT", network="BSC", amount=Decimal("10.123456789")),
        exchange_rate=Decimal("85"),
        transaction_hash="0xabc",
        payment=Payment(method="upi_transfer", bank_transaction_id="b1"),
    )
    request = encode(DialectName.SABER, order, S.COMPLETED, CREDS)
    body = orjson.loads(request.body)
    assert set(body) == set(SEED["COMPLETED"])
    assert body["fiat_amount"] == "850.00000000"
    assert body["crypto_amount"] == "10.123456789"  # more places than 8: never rounded away
    assert body["created_at"] == to_ms(order.created_at)
    assert (body["event"], body["status"], body["tag"]) == ("CRYPTO_BUY", "COMPLETED", None)
    assert request.headers["X-Saber-Signature"] == sign(request.body)["X-Saber-Signature"]


@pytest.mark.parametrize(
    ("status", "keys"),
    [(S.CREATED, set(SELL)), (S.PAYMENT_RECEIVED, set(DEPOSIT)), (S.REFUNDED, set(DEPOSIT))],
)
def test_encode_writes_the_off_ramp_shapes(status: OrderStatus, keys: set[str]) -> None:
    order = strategies.plain_order(Side.SELL, status, Provider.SABER)
    assert set(orjson.loads(encode(DialectName.SABER, order, status, CREDS).body)) == keys


def test_hmac_rotation_any_secret_verifies() -> None:
    both = sb.credentials_from_secrets(["new", SECRET])
    order = strategies.plain_order(Side.BUY, S.CREATED, Provider.SABER)
    request = encode(DialectName.SABER, order, S.CREATED, both)
    assert request.headers["X-Saber-Signature"].count(",") == 1
    assert sb.decode(request.headers, request.body, CREDS, now=NOW)


BODY = orjson.dumps(SEED["CREATED"])
TAMPERING: list[tuple[str, Any, type[Exception]]] = [
    ("body byte flipped", lambda: (sign(BODY), BODY.replace(b"850", b"851")), SignatureMismatch),
    ("wrong secret", lambda: (sign(BODY, secret="x"), BODY), SignatureMismatch),
    ("stale", lambda: (sign(BODY, ms=to_ms(NOW) - 300_001), BODY), TimestampOutOfWindow),
    ("missing signature", lambda: ({"X-Saber-Timestamp": str(to_ms(NOW))}, BODY), MissingHeader),
    ("missing timestamp", lambda: ({"X-Saber-Signature": "ab"}, BODY), MissingHeader),
    ("empty list", lambda: ({**sign(BODY), "X-Saber-Signature": " , "}, BODY), MalformedHeader),
    (
        "truncated",
        lambda: ({**sign(BODY), "X-Saber-Signature": sign(BODY)["X-Saber-Signature"][:9]}, BODY),
        SignatureMismatch,
    ),
    ("signed garbage", lambda: (sign(b"[]"), b"[]"), MalformedPayload),
]


@pytest.mark.parametrize(("case", "make", "error"), TAMPERING, ids=[c[0] for c in TAMPERING])
def test_hmac_tampering_is_refused(case: str, make: Any, error: type[Exception]) -> None:
    headers, body = make()
    with pytest.raises(error):
        sb.decode(headers, body, CREDS, now=NOW)


def test_without_secrets_nothing_is_signed() -> None:
    order = strategies.plain_order(Side.BUY, S.CREATED, Provider.SABER)
    request = encode(DialectName.SABER, order, S.CREATED, TOKEN)
    assert set(request.headers) == {"content-type"}
    assert sb.decode(request.headers, request.body, TOKEN, now=NOW, url_token="tok_8f3a9c0d1e2b")


def test_token_mode_compares_the_url_token_or_the_header() -> None:
    assert sb.decode({}, BODY, TOKEN, now=NOW, url_token="tok_8f3a9c0d1e2b")
    assert sb.decode({"x-webhook-token": "tok_8f3a9c0d1e2b"}, BODY, TOKEN, now=NOW)
    for token in ("tok_8f3a9c0d1e2c", "tok_8f3a9c0d1e2", "", "tök"):
        with pytest.raises(SourceRejected):
            sb.decode(
                {"X-Webhook-Token": "tok_8f3a9c0d1e2b"}, BODY, TOKEN, now=NOW, url_token=token
            )
    with pytest.raises(SourceRejected):
        sb.decode(sign(BODY), BODY, TOKEN, now=NOW)  # a signature is no token


@pytest.mark.parametrize(
    "peer", ["203.0.113.7", " 203.0.113.255", "::ffff:203.0.113.9", "2001:db8::1"]
)
def test_ip_allowlist_mode_accepts_listed_peers(peer: str) -> None:
    assert sb.decode({}, BODY, ALLOWLIST, now=NOW, peer_ip=peer)


@pytest.mark.parametrize(
    "peer", [None, "", "198.51.100.7", "203.0.114.1", "::1", "localhost", "203.0.113.7:443"]
)
def test_ip_allowlist_mode_refuses_other_peers(peer: str | None) -> None:
    with pytest.raises(SourceRejected):
        sb.decode({}, BODY, ALLOWLIST, now=NOW, peer_ip=peer)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SaberCredentials(mode=SaberAuth.HMAC),
        lambda: SaberCredentials(mode=SaberAuth.TOKEN),
        lambda: SaberCredentials(mode=SaberAuth.IP_ALLOWLIST),
        lambda: sb.networks(["10.0.0.0/33"]),
        lambda: sb.credentials_from_secrets([""]),
    ],
)
def test_incomplete_credentials_are_refused(make: Any) -> None:
    with pytest.raises(InvalidCredentials):
        make()


OUTBOUND = {
    Side.BUY: ["CRYPTO_BUY/CREATED"] * 4
    + ["CRYPTO_BUY/ONRAMP_INITIATED", "CRYPTO_BUY/ONRAMP_INCONSISTENT"]
    + ["CRYPTO_BUY/ONRAMP_COMPLETED"] * 4
    + ["CRYPTO_BUY/COMPLETED"]
    + ["CRYPTO_BUY/FAILED"] * 3
    + ["CRYPTO_BUY/REFUND_COMPLETED"],
    Side.SELL: ["SELL/CREATED"] * 3
    + ["deposit/PENDING"] * 3
    + ["deposit/COMPLETED"]
    + ["SELL/PROCESSING"] * 3
    + ["SELL/COMPLETED"]
    + ["SELL/FAILED"] * 3
    + ["withdraw/COMPLETED"],
}


@pytest.mark.parametrize("side", list(Side))
def test_every_status_has_a_saber_event(side: Side) -> None:
    sent = [str(sb.TABLE.to_provider(status, side)) for status in S]
    assert sent == OUTBOUND[side]


@settings(max_examples=40, deadline=None)
@given(data=st.data(), side=st.sampled_from(list(Side)), status=strategies.statuses)
def test_round_trip(data: Any, side: Side, status: OrderStatus) -> None:
    check_round_trip(DialectName.SABER, data.draw(strategies.saber(side, status)), status)


@settings(max_examples=60, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["X-Saber-Timestamp", "X-Saber-Signature", "y"]), st.text()
    ),
    body=st.binary(max_size=100),
    peer=st.none() | st.text(max_size=20),
)
def test_random_requests_raise_only_dialect_errors(
    headers: dict[str, str], body: bytes, peer: str | None
) -> None:
    decode_or_dialect_error(DialectName.SABER, headers, body, peer_ip=peer, url_token=peer)


@settings(max_examples=80, deadline=None)
@given(
    payload=st.fixed_dictionaries(
        {
            "event": st.sampled_from(["CRYPTO_BUY", "SELL", "deposit", "withdraw"])
            | strategies.texts
        },
        optional={
            key: strategies.json_values
            for key in [
                "id",
                "transaction_id",
                "status",
                "transaction_status",
                "fiat_amount",
                "amount",
                "crypto_symbol",
                "fiat_symbol",
                "failure_code",
                "updated_at",
                "payment_method",
            ]
        },
    )
)
def test_authentic_garbage_raises_only_dialect_errors(payload: dict[str, Any]) -> None:
    body = orjson.dumps(payload)
    decode_or_dialect_error(DialectName.SABER, sign(body), body)
