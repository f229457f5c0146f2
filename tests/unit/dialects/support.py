"""Constants and helpers shared by the dialect tests: a fixed clock, one RSA key, credentials."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from rampwire.dialects import DIALECTS, DecodedEvent, DialectError, DialectName, OutboundEvent
from rampwire.dialects.jose import SigningKey, generate_signing_key, private_key_pem
from rampwire.domain.orders import Failure, FailureReason, Order, OrderData, OrderStatus

NOW = datetime(2024, 1, 15, 10, 30, 0, 123000, tzinfo=UTC)
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.partner-access-token.0123456789abcdef0123456789abcdef"
OLD_ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.previous-access-token.fedcba9876543210fedcba98765432"
SECRET = "wsk_test_0123456789abcdef0123456789abcdef"  # long enough for every library's taste
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

_KEY: SigningKey | None = None


def signing_key() -> SigningKey:
    """One 2048-bit key for the whole run (3072-bit generation is slow and proves nothing more)."""
    global _KEY
    if _KEY is None:
        _KEY = generate_signing_key(2048)
    return _KEY


def secrets_for(name: DialectName) -> list[str]:
    if name is DialectName.STANDARD:
        return [STANDARD_SECRET]
    if name is DialectName.FIREBLOCKS:
        return [private_key_pem(signing_key()).decode()]
    if name is DialectName.TRANSAK:
        return [ACCESS_TOKEN]
    return [SECRET]


@functools.cache
def credentials_for(name: DialectName) -> Any:
    return DIALECTS[name].credentials_from_secrets(secrets_for(name))


# --- round trips -----------------------------------------------------------------------------

EVENT_TIME = NOW - timedelta(seconds=7)  # distinct from NOW, to see which time a decoder uses
S = OrderStatus


def field_default(name: str) -> Any:
    for item in dataclasses.fields(OrderData):
        if item.name == name:
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
            return item.default
    raise KeyError(name)


def encode(name: DialectName, order: Order, status: OrderStatus, credentials: Any = None) -> Any:
    dialect = DIALECTS[name]
    event = OutboundEvent(
        id="evt_01HMB3K2Y5Z7QF0000000000EV", type=f"order.{status.value}", created_at=EVENT_TIME
    )
    return dialect.encode(event, order, credentials or credentials_for(name), now=NOW)


def round_trip(name: DialectName, order: Order, status: OrderStatus) -> DecodedEvent:
    credentials = credentials_for(name)
    request = encode(name, order, status, credentials)
    decoded = DIALECTS[name].decode(request.headers, request.body, credentials, now=NOW)
    assert len(decoded) == 1
    return decoded[0]


def expected_status(name: DialectName, order: Order, status: OrderStatus) -> OrderStatus | None:
    dialect = DIALECTS[name]
    read = dialect.from_provider(dialect.to_provider(status, order.side), order.side)
    if name is DialectName.FIREBLOCKS and read is S.FAILED:
        # FAILED travels with a failure reason, which tells expired and refunded apart
        if status in (S.EXPIRED, S.REFUNDED):
            return status
        if order.failure is None:
            return S.FAILED
        by_reason = {FailureReason.ORDER_EXPIRED: S.EXPIRED, FailureReason.REFUNDED: S.REFUNDED}
        return by_reason.get(order.failure.reason, S.FAILED)
    return read


def expected_value(name: DialectName, field: str, order: Order, status: OrderStatus) -> Any:
    """The value a decoder gives back for ``field``: the order's, but for documented rewrites."""
    value = getattr(order, field)
    wire = DIALECTS[name].to_provider(status, order.side)
    if field == "failure" and name is DialectName.SABER and wire.status == "FAILED":
        return value or Failure(
            reason=FailureReason.PAYMENT_NOT_RECEIVED, provider_code="ONRAMP_FAILED"
        )
    if field == "failure" and name is DialectName.FIREBLOCKS and status in (S.EXPIRED, S.REFUNDED):
        reason = FailureReason.ORDER_EXPIRED if status is S.EXPIRED else FailureReason.REFUNDED
        return Failure(reason=reason, info=dict(value.info) if value else {})
    return value


def expected_time(name: DialectName, order: Order, status: OrderStatus) -> datetime:
    if name is DialectName.REVOLUT:
        return NOW  # the signed request timestamp
    if name is DialectName.FIREBLOCKS:
        return order.updated_at
    if name is DialectName.SABER:
        wire = DIALECTS[name].to_provider(status, order.side)
        return EVENT_TIME if wire.name in ("deposit", "withdraw") else NOW
    return EVENT_TIME


def check_round_trip(name: DialectName, order: Order, status: OrderStatus) -> DecodedEvent:
    """decode(encode(order)) gives back every canonical field the format carries."""
    dialect = DIALECTS[name]
    decoded = round_trip(name, order, status)
    assert decoded.issues == ()
    assert decoded.dialect is name
    assert decoded.status == expected_status(name, order, status)
    if name is DialectName.STANDARD:
        assert decoded.provider_order_id == order.id
    else:
        assert decoded.provider_order_id == order.provider_order_id
    if decoded.side is not None:
        assert decoded.side == order.side
    assert decoded.occurred_at == expected_time(name, order, status)
    carried = dialect.fields(status, order.side)
    assert set(decoded.patch) <= carried
    for field in carried:
        got = decoded.patch.get(field, field_default(field))
        assert got == expected_value(name, field, order, status), field
    change = decoded.change()
    assert (change.status, change.occurred_at, dict(change.patch)) == (
        decoded.status,
        decoded.occurred_at,
        dict(decoded.patch),
    )
    return decoded


# --- robustness --------------------------------------------------------------------------------

LEAKS = (
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    UnicodeError,
    ArithmeticError,
    RecursionError,
)


def decode_or_dialect_error(
    name: DialectName, headers: dict[str, str], body: bytes, **extra: Any
) -> list[DecodedEvent] | DialectError:
    """Decode; a DialectError is returned, anything else propagates and fails the test."""
    try:
        return DIALECTS[name].decode(headers, body, credentials_for(name), now=NOW, **extra)
    except DialectError as exc:
        assert str(exc)
        return exc
