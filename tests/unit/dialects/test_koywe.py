"""The Koywe dialect: HMAC over JSON.stringify(payload), inside the body."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.dialects import (
    DialectName,
    KoyweCredentials,
    MalformedPayload,
    MissingSignature,
    MissingTimestamp,
    SignatureMismatch,
    TimestampOutOfWindow,
)
from rampwire.dialects import koywe as ky
from rampwire.domain.orders import OrderStatus, Provider, Side
from rampwire.settings import Secret

from . import strategies
from .support import NOW, SECRET, check_round_trip, decode_or_dialect_error, encode

S = OrderStatus
CREDS = ky.credentials_from_secrets([SECRET])
SEED_NOW = datetime(2022, 10, 26, 22, 37, 0, tzinfo=UTC)  # 18 s after the seed's timeStamp
SEED_PAYLOAD = (
    '{"eventName":"crypto_delivered","orderId":"5a3288ea-0bd4-44d2-af11-aae1f88bbd61",'
    '"timeStamp":"2022-10-26T22:36:41.658Z"}'
)


def seed_body(secret: str = SECRET, payload: str = SEED_PAYLOAD) -> bytes:
    """The seed's example, signed as the seed's snippet does, written out by hand."""
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return (payload[:-1] + f',"signature":"{signature}"}}').encode()


def test_the_seed_example_decodes_field_by_field() -> None:
    [event] = ky.decode({}, seed_body(), CREDS, now=SEED_NOW)
    assert event.provider is Provider.KOYWE
    assert event.provider_event == "crypto_delivered"
    assert event.provider_order_id == "5a3288ea-0bd4-44d2-af11-aae1f88bbd61"
    assert event.status is S.COMPLETED
    assert event.side is Side.BUY
    assert event.occurred_at.isoformat() == "2022-10-26T22:36:41.658000+00:00"
    assert event.dedupe_key == "5a3288ea-0bd4-44d2-af11-aae1f88bbd61:crypto_delivered"
    assert event.patch == {}


def test_encode_writes_what_javascript_would_send() -> None:
    order = strategies.plain_order(Side.BUY, S.COMPLETED, Provider.KOYWE)
    body = encode(DialectName.KOYWE, order, S.COMPLETED, CREDS).body
    payload = (
        '{"eventName":"crypto_delivered","orderId":"po-buy","timeStamp":"2024-01-15T10:29:53.123Z"}'
    )
    assert body == seed_body(payload=payload)


def test_non_ascii_slashes_and_controls_are_signed_as_javascript_writes_them() -> None:
    order_id = 'ñandú/"x"\\y\n\t\x01😀\u2028'
    order = strategies.plain_order(Side.SELL, S.COMPLETED, Provider.KOYWE).evolve(
        provider_order_id=order_id
    )
    body = encode(DialectName.KOYWE, order, S.COMPLETED, CREDS).body
    assert 'ñandú/\\"x\\"\\\\y\\n\\t\\u0001😀\u2028'.encode() in body
    [event] = ky.decode({}, body, CREDS, now=NOW)
    assert (event.provider_order_id, event.side, event.status) == (order_id, Side.SELL, S.COMPLETED)


def test_a_body_with_other_escapes_for_the_same_values_still_verifies() -> None:
    body = (
        seed_body()
        .replace(b"crypto_delivered", b"crypto\\u005fdelivered")
        .replace(b'"orderId"', b'"order\\u0049d"')
    )
    assert ky.decode({}, body, CREDS, now=SEED_NOW)[0].provider_event == "crypto_delivered"


def test_any_configured_secret_verifies() -> None:
    rotated = ky.credentials_from_secrets(["new-secret", SECRET])
    assert ky.decode({}, seed_body(), rotated, now=SEED_NOW)


def test_a_timestamp_outside_the_window_is_refused_either_way() -> None:
    for now, how in ((NOW, "too old"), (SEED_NOW - timedelta(minutes=6), "in the future")):
        with pytest.raises(TimestampOutOfWindow, match=how):
            ky.decode({}, seed_body(), CREDS, now=now)
    assert ky.decode({}, seed_body(), CREDS, now=SEED_NOW + timedelta(minutes=4))
    month = KoyweCredentials(secrets=(Secret(SECRET),), tolerance=timedelta(days=31))
    assert ky.decode({}, seed_body(), month, now=SEED_NOW + timedelta(days=30))
    order = strategies.plain_order(Side.BUY, S.CREATED, Provider.KOYWE)
    request = encode(DialectName.KOYWE, order, S.CREATED, CREDS)
    assert ky.decode({}, request.body, CREDS, now=NOW)


def test_a_body_without_a_timestamp_is_refused() -> None:
    payload = '{"eventName":"crypto_delivered","orderId":"5a3288ea"}'
    with pytest.raises(MissingTimestamp):
        ky.decode({}, seed_body(payload=payload), CREDS, now=SEED_NOW)


def _reordered() -> bytes:
    raw = orjson.loads(seed_body())
    return orjson.dumps({k: raw[k] for k in ("orderId", "eventName", "timeStamp", "signature")})


TAMPERING: list[tuple[str, Any, type[Exception]]] = [
    ("order id changed", lambda: seed_body().replace(b"5a3288ea", b"5a3288eb"), SignatureMismatch),
    (
        "event changed",
        lambda: seed_body().replace(b"crypto_delivered", b"crypto_tx_failed"),
        SignatureMismatch,
    ),
    (
        "field added",
        lambda: seed_body().replace(b'{"eventName"', b'{"x":1,"eventName"'),
        SignatureMismatch,
    ),
    ("keys reordered", _reordered, SignatureMismatch),
    ("wrong secret", lambda: seed_body(secret="other"), SignatureMismatch),
    ("truncated signature", lambda: seed_body()[:-10] + b'"}', SignatureMismatch),
    (
        "upper-case hex",
        lambda: seed_body()[:-67] + seed_body()[-67:-2].upper() + b'"}',
        SignatureMismatch,
    ),
    ("no signature", lambda: SEED_PAYLOAD.encode(), MissingSignature),
    (
        "signature not a string",
        lambda: SEED_PAYLOAD[:-1].encode() + b',"signature":1}',
        MissingSignature,
    ),
    ("not JSON", lambda: b"eventName=crypto_delivered", MalformedPayload),
    ("NaN", lambda: b'{"eventName":NaN,"signature":"x"}', MalformedPayload),
]


@pytest.mark.parametrize(("case", "make", "error"), TAMPERING, ids=[c[0] for c in TAMPERING])
def test_tampering_is_refused(case: str, make: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        ky.decode({}, make(), CREDS, now=SEED_NOW)


INBOUND = {
    "payment_created": (S.CREATED, None),
    "payment_received": (S.PAYMENT_RECEIVED, None),
    "payment_rejected": (S.FAILED, None),
    "payment_expired": (S.EXPIRED, None),
    "crypto_tx_sent": (S.DELIVERY_SENT, Side.BUY),
    "crypto_delivered": (S.COMPLETED, Side.BUY),
    "crypto_tx_failed": (S.FAILED, None),
    "fiat_sent": (S.DELIVERY_SENT, Side.SELL),
    "fiat_delivered": (S.COMPLETED, Side.SELL),
    "kyc_approved": (None, None),
}


@pytest.mark.parametrize(("name", "expected"), INBOUND.items())
def test_every_koywe_event_reads_as_a_status_and_side(name: str, expected: Any) -> None:
    payload = SEED_PAYLOAD.replace("crypto_delivered", name)
    [event] = ky.decode({}, seed_body(payload=payload), CREDS, now=SEED_NOW)
    assert (event.status, event.side) == expected


OUTBOUND_BUY = {
    **dict.fromkeys(
        [
            S.CREATED,
            S.PENDING_USER_ACTION,
            S.AWAITING_PAYMENT,
            S.PAYMENT_SUBMITTED,
            S.PAYMENT_VERIFYING,
            S.AMOUNT_MISMATCH,
        ],
        "payment_created",
    ),
    **dict.fromkeys([S.PAYMENT_RECEIVED, S.PROCESSING, S.ON_HOLD], "payment_received"),
    S.DELIVERY_SENT: "crypto_tx_sent",
    S.COMPLETED: "crypto_delivered",
    **dict.fromkeys([S.FAILED, S.CANCELLED, S.REFUNDED], "payment_rejected"),
    S.EXPIRED: "payment_expired",
}
OUTBOUND_SELL = {**OUTBOUND_BUY, S.DELIVERY_SENT: "fiat_sent", S.COMPLETED: "fiat_delivered"}


@pytest.mark.parametrize("status", list(S))
def test_every_status_has_a_koywe_event_on_both_sides(status: OrderStatus) -> None:
    assert ky.TABLE.to_provider(status, Side.BUY).name == OUTBOUND_BUY[status]
    assert ky.TABLE.to_provider(status, Side.SELL).name == OUTBOUND_SELL[status]


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    side=st.sampled_from(list(Side)),
    status=strategies.statuses,
    order_id=strategies.texts,
)
def test_round_trip(data: Any, side: Side, status: OrderStatus, order_id: str) -> None:
    order = data.draw(strategies.koywe(side, status)).evolve(provider_order_id=order_id)
    check_round_trip(DialectName.KOYWE, order, status)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=150))
def test_random_bodies_raise_only_dialect_errors(body: bytes) -> None:
    decode_or_dialect_error(DialectName.KOYWE, {}, body)


@settings(max_examples=80, deadline=None)
@given(payload=st.dictionaries(strategies.texts, strategies.json_values, max_size=4))
def test_authentic_garbage_raises_only_dialect_errors(payload: dict[str, Any]) -> None:
    payload.pop("signature", None)
    body = orjson.dumps({**payload, "signature": ky.signature(payload, Secret(SECRET))})
    result = decode_or_dialect_error(DialectName.KOYWE, {}, body)
    if isinstance(result, list):
        assert result[0].provider_event == payload["eventName"]
