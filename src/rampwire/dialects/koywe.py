"""Koywe: event names signed inside the body over JavaScript's ``JSON.stringify``.

Body ``{"eventName", "orderId", "timeStamp", "signature"}``, written by ``JSON.stringify``; the
signature is hex HMAC-SHA256(partner secret, ``JSON.stringify(payload)``) where payload is the body
without ``signature``, in its key order (eventName, orderId, timeStamp). Byte-exact JavaScript
serialisation lives in :mod:`rampwire.dialects.jsjson`. ``timeStamp`` is ``Date.toISOString()``
(milliseconds, ``Z``): Koywe documents no window, but it is the only clock a captured body
carries, so it must lie within the source's tolerance (five minutes by default, either way) or
the request is refused as a replay (issue 16).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..domain.orders import Order, OrderStatus, Provider, Side
from ..settings import Secret
from .base import (
    STANDARD_JITTER,
    STANDARD_RETRY_DELAYS,
    DecodedEvent,
    DeliveryPolicy,
    Dialect,
    DialectName,
    EventLike,
    ProviderEvent,
    StatusTable,
    WireRequest,
    announced_status,
    decoded_event,
    wire_order_id,
)
from .errors import (
    InvalidCredentials,
    MissingSignature,
    MissingTimestamp,
    SignatureMismatch,
    translate_errors,
)
from .jsjson import stringify
from .wire import (
    DEFAULT_TOLERANCE,
    JSON_HEADERS,
    check_window,
    hmac_sha256,
    iso_ms,
    matches_any,
    parse_iso,
    parse_object,
    required_text,
    to_ms,
)

POLICY = DeliveryPolicy(retry_delays=STANDARD_RETRY_DELAYS, jitter=STANDARD_JITTER)
"""Koywe publishes no retry behaviour: rampwire uses the Standard Webhooks ladder."""

S = OrderStatus
E = ProviderEvent
PAYMENT_CREATED = E(name="payment_created")
PAYMENT_RECEIVED = E(name="payment_received")
PAYMENT_REJECTED = E(name="payment_rejected")
PAYMENT_EXPIRED = E(name="payment_expired")
CRYPTO_TX_SENT = E(name="crypto_tx_sent")
CRYPTO_DELIVERED = E(name="crypto_delivered")
CRYPTO_TX_FAILED = E(name="crypto_tx_failed")
FIAT_SENT = E(name="fiat_sent")
FIAT_DELIVERED = E(name="fiat_delivered")


def _table(sent: ProviderEvent, delivered: ProviderEvent) -> Mapping[OrderStatus, ProviderEvent]:
    return {
        S.CREATED: PAYMENT_CREATED,
        S.PENDING_USER_ACTION: PAYMENT_CREATED,  # lossy: Koywe's first event
        S.AWAITING_PAYMENT: PAYMENT_CREATED,  # lossy
        S.PAYMENT_SUBMITTED: PAYMENT_CREATED,  # lossy: not confirmed yet
        S.PAYMENT_VERIFYING: PAYMENT_CREATED,  # lossy
        S.AMOUNT_MISMATCH: PAYMENT_CREATED,  # lossy: the payment is not confirmed
        S.PAYMENT_RECEIVED: PAYMENT_RECEIVED,
        S.PROCESSING: PAYMENT_RECEIVED,  # lossy: nothing until the transfer is sent
        S.ON_HOLD: PAYMENT_RECEIVED,  # lossy
        S.DELIVERY_SENT: sent,
        S.COMPLETED: delivered,
        S.FAILED: PAYMENT_REJECTED,  # crypto_tx_failed is read, never sent
        S.CANCELLED: PAYMENT_REJECTED,  # "payment was cancelled or rejected"
        S.EXPIRED: PAYMENT_EXPIRED,
        S.REFUNDED: PAYMENT_REJECTED,  # lossy: Koywe has no refund event
    }


TABLE = StatusTable(
    provider=Provider.KOYWE,
    outbound={
        Side.BUY: _table(CRYPTO_TX_SENT, CRYPTO_DELIVERED),
        Side.SELL: _table(FIAT_SENT, FIAT_DELIVERED),
    },
    inbound={
        PAYMENT_CREATED: S.CREATED,
        PAYMENT_RECEIVED: S.PAYMENT_RECEIVED,
        PAYMENT_REJECTED: S.FAILED,
        PAYMENT_EXPIRED: S.EXPIRED,
        CRYPTO_TX_SENT: S.DELIVERY_SENT,
        CRYPTO_DELIVERED: S.COMPLETED,
        CRYPTO_TX_FAILED: S.FAILED,
        FIAT_SENT: S.DELIVERY_SENT,
        FIAT_DELIVERED: S.COMPLETED,
    },
)

_SIDE_OF = {
    CRYPTO_TX_SENT.name: Side.BUY,
    CRYPTO_DELIVERED.name: Side.BUY,
    FIAT_SENT.name: Side.SELL,
    FIAT_DELIVERED.name: Side.SELL,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class KoyweCredentials:
    """The partner-chosen secret(s), newest first: the first signs, any one verifies.

    ``tolerance``: refuse a ``timeStamp`` further than this from now, either way.
    """

    secrets: tuple[Secret, ...]
    tolerance: timedelta = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if not self.secrets or not all(s.reveal() for s in self.secrets):
            raise InvalidCredentials("Koywe needs at least one non-empty secret")


def credentials_from_secrets(secrets: Sequence[str]) -> KoyweCredentials:
    return KoyweCredentials(secrets=tuple(Secret(s) for s in secrets))


def signature(payload: Mapping[str, Any], secret: Secret) -> str:
    """``crypto.createHmac('sha256', secret).update(JSON.stringify(payload)).digest('hex')``."""
    return hmac_sha256(secret.reveal().encode(), stringify(payload)).hex()


def encode(
    event: EventLike, order: Order, credentials: KoyweCredentials, *, now: datetime
) -> WireRequest:
    provider_event = TABLE.to_provider(announced_status(event, order), order.side)
    payload = {
        "eventName": provider_event.name,
        "orderId": wire_order_id(order, Provider.KOYWE),
        "timeStamp": iso_ms(event.created_at),
    }
    body = stringify({**payload, "signature": signature(payload, credentials.secrets[0])})
    return WireRequest(headers=dict(JSON_HEADERS), body=body)


def verify(raw: Mapping[str, Any], credentials: KoyweCredentials, *, now: datetime) -> None:
    received = raw.get("signature")
    if not isinstance(received, str) or not received:
        raise MissingSignature("the body carries no signature field")
    payload = {key: value for key, value in raw.items() if key != "signature"}
    expected = [signature(payload, secret) for secret in credentials.secrets]
    if not matches_any(expected, [received]):
        raise SignatureMismatch("the body's signature matches none of the configured secrets")
    stamp = raw.get("timeStamp")
    if stamp is None:
        raise MissingTimestamp("the body carries no timeStamp, so its age cannot be checked")
    check_window(to_ms(parse_iso(stamp)), now, credentials.tolerance, what="timeStamp")


def decode(
    headers: Mapping[str, str],
    body: bytes,
    credentials: KoyweCredentials,
    *,
    now: datetime,
    peer_ip: str | None = None,
    url_token: str | None = None,
) -> list[DecodedEvent]:
    """Verify the in-body signature, then read the event; its time is ``timeStamp``."""
    with translate_errors("Koywe webhook"):
        raw = parse_object(body, decimals=True)
        verify(raw, credentials, now=now)
        name = required_text(raw, "eventName")
        order_id = required_text(raw, "orderId")
        stamp = parse_iso(raw["timeStamp"])  # present: verify checked its window
        event = ProviderEvent(name=name)
        return [
            decoded_event(
                dialect=DialectName.KOYWE,
                provider=Provider.KOYWE,
                provider_event=str(event),
                provider_order_id=order_id,
                dedupe_key=f"{order_id}:{name}",
                occurred_at=stamp,
                side=_SIDE_OF.get(name),
                status=TABLE.from_provider(event),
                patch={},
                raw=raw,
            )
        ]


def fields(status: OrderStatus, side: Side) -> frozenset[str]:
    return frozenset()  # the order's details come from GET /orders/{id}


DIALECT: Dialect[KoyweCredentials] = Dialect.of_provider(
    DialectName.KOYWE,
    Provider.KOYWE,
    TABLE,
    policy=POLICY,
    encode=encode,
    decode=decode,
    fields=fields,
    credentials_from_secrets=credentials_from_secrets,
)
