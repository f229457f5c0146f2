"""The Revolut dialect: thin on-ramp events, HMAC over "v1.<ms>.<body>"."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampwire.dialects import (
    DialectName,
    MalformedHeader,
    MalformedPayload,
    MissingHeader,
    ProviderEvent,
    SignatureMismatch,
    TimestampOutOfWindow,
    UnsupportedEvent,
    wire,
)
from rampwire.dialects import revolut as rv
from rampwire.dialects.wire import canonical, to_ms
from rampwire.domain.orders import OrderStatus, Provider, Side

from . import strategies
from .support import NOW, SECRET, check_round_trip, decode_or_dialect_error, encode

S = OrderStatus
CREDS = rv.credentials_from_secrets([SECRET])
SEED_BODY = (
    b'{\n"order_id": "19218d6e-5f55-4a0d-b7c5-6e333881c1c9",\n'
    b'"wallet": "0x96e2B7Bf479f84e7A0a94f0620290B7D3E08f5EF",\n"event": "ORDER_COMPLETED"\n}'
)


def sign(body: bytes, *, secret: str = SECRET, ms: int | None = None) -> dict[str, str]:
    """Revolut's scheme, written out independently of the module under test."""
    timestamp = str(to_ms(NOW) if ms is None else ms)
    digest = hmac.new(secret.encode(), b"v1." + timestamp.encode() + b"." + body, hashlib.sha256)
    return {"Revolut-Request-Timestamp": timestamp, "Revolut-Signature": "v1=" + digest.hexdigest()}


def test_the_seed_example_decodes_field_by_field() -> None:
    [event] = rv.decode(sign(SEED_BODY), SEED_BODY, CREDS, now=NOW)
    assert event.provider_order_id == "19218d6e-5f55-4a0d-b7c5-6e333881c1c9"
    assert event.provider_event == "ORDER_COMPLETED"
    assert event.status is S.COMPLETED
    assert event.side is Side.BUY
    assert event.patch == {"wallet_address": "0x96e2B7Bf479f84e7A0a94f0620290B7D3E08f5EF"}
    assert event.dedupe_key == "19218d6e-5f55-4a0d-b7c5-6e333881c1c9:ORDER_COMPLETED"
    assert event.occurred_at == NOW.replace(microsecond=123000)
    assert event.raw["event"] == "ORDER_COMPLETED"
    assert event.raw_json == canonical(event.raw)  # what the inbound log's key hashes


def test_encode_writes_the_documented_body_and_headers() -> None:
    order = strategies.plain_order(Side.BUY, S.COMPLETED, Provider.REVOLUT, wallet_address="0xabc")
    request = encode(DialectName.REVOLUT, order, S.COMPLETED, CREDS)
    assert orjson.loads(request.body) == {
        "order_id": order.provider_order_id,
        "wallet": "0xabc",
        "event": "ORDER_COMPLETED",
    }
    assert request.headers["Revolut-Request-Timestamp"] == str(to_ms(NOW))
    assert request.headers["Revolut-Signature"] == sign(request.body)["Revolut-Signature"]


def test_rotation_sends_one_v1_per_secret_and_any_one_verifies() -> None:
    both = rv.credentials_from_secrets(["wsk_new", "wsk_old"])
    order = strategies.plain_order(Side.BUY, S.CREATED, Provider.REVOLUT)
    request = encode(DialectName.REVOLUT, order, S.CREATED, both)
    values = request.headers["Revolut-Signature"].split(",")
    assert [v[:3] for v in values] == ["v1=", "v1="]
    for secret in ("wsk_old", "wsk_new"):
        rv.decode(request.headers, request.body, rv.credentials_from_secrets([secret]), now=NOW)


def test_any_valid_v1_passes_and_other_versions_are_ignored() -> None:
    good = sign(SEED_BODY)
    header = f"v0=abc, v1={'0' * 64}, {good['Revolut-Signature']}"
    rv.decode({**good, "Revolut-Signature": header}, SEED_BODY, CREDS, now=NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=-4, seconds=-59), timedelta(minutes=4)])
def test_timestamps_within_five_minutes_pass(skew: timedelta) -> None:
    rv.decode(sign(SEED_BODY, ms=to_ms(NOW + skew)), SEED_BODY, CREDS, now=NOW)


def _flip(body: bytes) -> bytes:
    return body.replace(b"ORDER_COMPLETED", b"ORDER_COMPLETEE")


TAMPERING: list[tuple[str, Any, type[Exception]]] = [
    ("body byte flipped", lambda: (sign(SEED_BODY), _flip(SEED_BODY)), SignatureMismatch),
    ("wrong secret", lambda: (sign(SEED_BODY, secret="wsk_other"), SEED_BODY), SignatureMismatch),
    ("stale", lambda: (sign(SEED_BODY, ms=to_ms(NOW) - 300_001), SEED_BODY), TimestampOutOfWindow),
    ("future", lambda: (sign(SEED_BODY, ms=to_ms(NOW) + 300_001), SEED_BODY), TimestampOutOfWindow),
    (
        "timestamp in seconds",
        lambda: (sign(SEED_BODY, ms=to_ms(NOW) // 1000), SEED_BODY),
        TimestampOutOfWindow,
    ),
    (
        "missing signature",
        lambda: ({"Revolut-Request-Timestamp": str(to_ms(NOW))}, SEED_BODY),
        MissingHeader,
    ),
    (
        "missing timestamp",
        lambda: ({"Revolut-Signature": sign(SEED_BODY)["Revolut-Signature"]}, SEED_BODY),
        MissingHeader,
    ),
    (
        "timestamp not a number",
        lambda: ({**sign(SEED_BODY), "Revolut-Request-Timestamp": "1e12"}, SEED_BODY),
        MalformedHeader,
    ),
    (
        "truncated signature",
        lambda: (
            {**sign(SEED_BODY), "Revolut-Signature": sign(SEED_BODY)["Revolut-Signature"][:-2]},
            SEED_BODY,
        ),
        SignatureMismatch,
    ),
    (
        "no v1 value",
        lambda: ({**sign(SEED_BODY), "Revolut-Signature": "v2=abc"}, SEED_BODY),
        SignatureMismatch,
    ),
    (
        "not key=value",
        lambda: ({**sign(SEED_BODY), "Revolut-Signature": "deadbeef"}, SEED_BODY),
        MalformedHeader,
    ),
    (
        "signed body without order_id",
        lambda: (sign(b'{"event":"X"}'), b'{"event":"X"}'),
        MalformedPayload,
    ),
    ("signed body not JSON", lambda: (sign(b"\xff\xfe"), b"\xff\xfe"), MalformedPayload),
]


@pytest.mark.parametrize(("case", "make", "error"), TAMPERING, ids=[c[0] for c in TAMPERING])
def test_tampering_is_refused(case: str, make: Any, error: type[Exception]) -> None:
    headers, body = make()
    with pytest.raises(error):
        rv.decode(headers, body, CREDS, now=NOW)


def test_header_names_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in sign(SEED_BODY).items()}
    assert rv.decode(headers, SEED_BODY, CREDS, now=NOW)[0].status is S.COMPLETED


def test_an_unknown_event_decodes_without_a_status() -> None:
    body = b'{"order_id":"o1","wallet":null,"event":"ORDER_REFUNDED"}'
    [event] = rv.decode(sign(body), body, CREDS, now=NOW)
    assert (event.status, event.patch, event.provider_event) == (None, {}, "ORDER_REFUNDED")


def test_revolut_has_no_off_ramp() -> None:
    order = strategies.plain_order(Side.SELL, S.CREATED, Provider.REVOLUT)
    with pytest.raises(UnsupportedEvent):
        encode(DialectName.REVOLUT, order, S.CREATED, CREDS)


OUTBOUND = {
    S.CREATED: "ORDER_CREATED",
    S.PENDING_USER_ACTION: "ORDER_CREATED",
    S.AWAITING_PAYMENT: "ORDER_CREATED",
    S.PAYMENT_SUBMITTED: "ORDER_CREATED",
    S.PAYMENT_VERIFYING: "ORDER_CREATED",
    S.AMOUNT_MISMATCH: "ORDER_CREATED",
    S.PAYMENT_RECEIVED: "ORDER_PROCESSING",
    S.PROCESSING: "ORDER_PROCESSING",
    S.ON_HOLD: "ORDER_PROCESSING",
    S.DELIVERY_SENT: "ORDER_PROCESSING",
    S.COMPLETED: "ORDER_COMPLETED",
    S.FAILED: "ORDER_FAILED",
    S.CANCELLED: "ORDER_FAILED",
    S.EXPIRED: "ORDER_FAILED",
    S.REFUNDED: "ORDER_FAILED",
}
INBOUND = {
    "ORDER_CREATED": S.CREATED,
    "ORDER_PROCESSING": S.PROCESSING,
    "ORDER_COMPLETED": S.COMPLETED,
    "ORDER_FAILED": S.FAILED,
}


@pytest.mark.parametrize("status", list(S))
def test_every_status_has_a_revolut_event(status: OrderStatus) -> None:
    assert str(rv.TABLE.to_provider(status, Side.BUY)) == OUTBOUND[status]


@pytest.mark.parametrize(("name", "status"), INBOUND.items())
def test_every_revolut_event_has_a_status(name: str, status: OrderStatus) -> None:
    assert rv.TABLE.from_provider(ProviderEvent(name=name)) is status


def test_the_policy_makes_four_attempts() -> None:
    assert rv.POLICY.max_attempts == 4
    assert rv.POLICY.should_retry(404) and rv.POLICY.should_retry(None)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), status=strategies.statuses)
def test_round_trip(data: Any, status: OrderStatus) -> None:
    order = data.draw(strategies.revolut(Side.BUY, status))
    check_round_trip(DialectName.REVOLUT, order, status)


@settings(max_examples=60, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["Revolut-Request-Timestamp", "Revolut-Signature", "x"]), st.text()
    ),
    body=st.binary(max_size=100),
)
def test_random_requests_raise_only_dialect_errors(headers: dict[str, str], body: bytes) -> None:
    decode_or_dialect_error(DialectName.REVOLUT, headers, body)


@settings(max_examples=60, deadline=None)
@given(value=strategies.json_values)
def test_authentic_garbage_raises_only_dialect_errors(value: Any) -> None:
    body = orjson.dumps(value)
    decode_or_dialect_error(DialectName.REVOLUT, sign(body), body)


@pytest.mark.parametrize(
    "fields",
    [
        {"order_id": "o-1", "event": "ORDER_COMPLETED", "wallet": "0xab"},
        {"order_id": "o-1", "event": "ORDER_COMPLETED"},
        {"order_id": "o-1", "event": "ORDER_COMPLETED", "wallet": None},
        {"order_id": "", "event": "ORDER_COMPLETED"},
        {"order_id": 7, "event": "ORDER_COMPLETED"},
        {"order_id": None, "event": 7},
        {"event": "ORDER_COMPLETED"},
        {"order_id": "o-1", "event": ""},
        {"order_id": "o-1", "event": ["x"]},
        {"order_id": "o-1"},
        {"order_id": "o-1", "event": "ORDER_COMPLETED", "wallet": 1},
        {"order_id": "o-1", "event": "ORDER_COMPLETED", "wallet": ""},
        {"order_id": "", "event": "", "wallet": 1},
    ],
)
def test_the_fields_are_read_as_text_and_required_text_read_them(fields: dict[str, Any]) -> None:
    body = orjson.dumps(fields)
    try:
        [event] = rv.decode(sign(body), body, CREDS, now=NOW)
    except MalformedPayload as exc:
        with pytest.raises((TypeError, ValueError)) as expected:
            wire.required_text(fields, "order_id")
            wire.required_text(fields, "event")
            wire.text(fields, "wallet")
        assert exc.message == f"Revolut webhook: {expected.value}"
        return
    assert event.provider_order_id == wire.required_text(fields, "order_id")
    assert event.provider_event == wire.required_text(fields, "event")
    assert event.patch.get("wallet_address") == wire.text(fields, "wallet")
