"""Revolut Ramp: thin on-ramp events, HMAC-signed with a millisecond timestamp.

Body ``{"order_id": "...", "wallet": "0x...", "event": "ORDER_COMPLETED"}``. Headers
``Revolut-Request-Timestamp`` (UNIX milliseconds) and ``Revolut-Signature: v1=<hex>``, where hex is
HMAC-SHA256(signing secret, ``"v1." + timestamp + "." + body``); during a secret change several
comma-separated ``v1=`` values are sent and any valid one passes. Receivers refuse timestamps more
than five minutes from now. Revolut is on-ramp only and has four events, so most canonical
statuses map onto a coarser one (docs/dialects.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from ..domain.orders import Order, OrderStatus, Provider, Side
from ..settings import Secret
from .base import (
    DecodedEvent,
    DeliveryPolicy,
    Dialect,
    DialectName,
    EventLike,
    ProviderEvent,
    StatusTable,
    WireRequest,
    announced_status,
    build_patch,
    decoded_event,
    wire_order_id,
)
from .errors import InvalidCredentials, MalformedHeader, SignatureMismatch, translate_errors
from .wire import (
    DEFAULT_TOLERANCE,
    JSON_HEADERS,
    HmacSha256,
    check_window,
    dumps,
    from_ms,
    header_integer,
    lower_headers,
    matches_any,
    parse_canonical,
    require_header,
    required_text,
    text,
    to_ms,
)

TIMESTAMP_HEADER: Final = "Revolut-Request-Timestamp"
SIGNATURE_HEADER: Final = "Revolut-Signature"

POLICY = DeliveryPolicy(retry_delays=(30, 5 * 60, 30 * 60), jitter=0.2)
"""Revolut retries "3 more times" after an HTTP error or a timeout and publishes no schedule:
rampwire waits 30 s, 5 min and 30 min (±20 %), and retries 4xx as well as 5xx."""

S = OrderStatus
CREATED = ProviderEvent(name="ORDER_CREATED")
PROCESSING = ProviderEvent(name="ORDER_PROCESSING")
COMPLETED = ProviderEvent(name="ORDER_COMPLETED")
FAILED = ProviderEvent(name="ORDER_FAILED")

_BUY: Mapping[OrderStatus, ProviderEvent] = {
    S.CREATED: CREATED,
    S.PENDING_USER_ACTION: CREATED,  # lossy: no event before payment
    S.AWAITING_PAYMENT: CREATED,  # the order of ORDER_CREATED is AWAITING_PAYMENT
    S.PAYMENT_SUBMITTED: CREATED,  # lossy: nothing is received yet
    S.PAYMENT_VERIFYING: CREATED,  # lossy
    S.AMOUNT_MISMATCH: CREATED,  # lossy: no payment was accepted
    S.PAYMENT_RECEIVED: PROCESSING,  # ORDER_PROCESSING = payment received, transfer started
    S.PROCESSING: PROCESSING,
    S.ON_HOLD: PROCESSING,  # lossy
    S.DELIVERY_SENT: PROCESSING,  # lossy: completion is the next event
    S.COMPLETED: COMPLETED,
    S.FAILED: FAILED,
    S.CANCELLED: FAILED,  # lossy: Revolut has one failure event
    S.EXPIRED: FAILED,  # lossy (fail_reason PAYMENT_NOT_RECEIVED on the order)
    S.REFUNDED: FAILED,  # lossy: no refund event
}

TABLE = StatusTable(
    provider=Provider.REVOLUT,
    outbound={Side.BUY: _BUY},
    inbound={
        CREATED: S.CREATED,
        PROCESSING: S.PROCESSING,
        COMPLETED: S.COMPLETED,
        FAILED: S.FAILED,
    },
)


@dataclass(frozen=True, kw_only=True, slots=True)
class RevolutCredentials:
    """Webhook signing secrets (``wsk_...``), newest first: each signs, any one verifies."""

    secrets: tuple[Secret, ...]
    tolerance: timedelta = DEFAULT_TOLERANCE
    macs: tuple[HmacSha256, ...] = field(init=False, repr=False, compare=False)  # per secret

    def __post_init__(self) -> None:
        if not self.secrets or not all(s.reveal() for s in self.secrets):
            raise InvalidCredentials("Revolut needs at least one non-empty signing secret")
        macs = tuple(HmacSha256(s.reveal().encode()) for s in self.secrets)
        object.__setattr__(self, "macs", macs)


def credentials_from_secrets(secrets: Sequence[str]) -> RevolutCredentials:
    return RevolutCredentials(secrets=tuple(Secret(s) for s in secrets))


def _signatures(credentials: RevolutCredentials, timestamp: str, body: bytes) -> list[str]:
    signed = f"v1.{timestamp}.".encode() + body
    return [mac.digest(signed).hex() for mac in credentials.macs]


def encode(
    event: EventLike, order: Order, credentials: RevolutCredentials, *, now: datetime
) -> WireRequest:
    provider_event = TABLE.to_provider(announced_status(event, order), order.side)
    body = dumps(
        {
            "order_id": wire_order_id(order, Provider.REVOLUT),
            "wallet": order.wallet_address,
            "event": provider_event.name,
        }
    )
    timestamp = str(to_ms(now))
    signature = ",".join(f"v1={s}" for s in _signatures(credentials, timestamp, body))
    return WireRequest(
        headers={**JSON_HEADERS, TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature},
        body=body,
    )


def verify(
    headers: Mapping[str, str], body: bytes, credentials: RevolutCredentials, *, now: datetime
) -> int:
    """Check the signature and the five-minute window; return the signed time in ms."""
    lowered = lower_headers(headers)
    timestamp = header_integer(lowered, TIMESTAMP_HEADER)
    received = require_header(lowered, SIGNATURE_HEADER)
    check_window(timestamp, now, credentials.tolerance, what=TIMESTAMP_HEADER)
    offered = []
    for item in received.split(","):
        version, equals, value = item.strip().partition("=")
        if not equals:
            raise MalformedHeader(f"{SIGNATURE_HEADER} values look like v1=<hex>")
        if version == "v1":
            offered.append(value)
    if not offered:
        raise SignatureMismatch(f"{SIGNATURE_HEADER} carries no v1 signature")
    if not matches_any(_signatures(credentials, str(timestamp), body), offered):
        raise SignatureMismatch(f"{SIGNATURE_HEADER} matches none of the signing secrets")
    return timestamp


# one for every request: it keeps nothing of a request (its one attribute is this text)
_ERRORS = translate_errors("Revolut webhook")


def decode(
    headers: Mapping[str, str],
    body: bytes,
    credentials: RevolutCredentials,
    *,
    now: datetime,
    peer_ip: str | None = None,
    url_token: str | None = None,
) -> list[DecodedEvent]:
    """Verify and read one event. Its time is the signed request timestamp, Revolut's only
    clock; the order's details are not in the payload (fetch them with the order API)."""
    with _ERRORS:
        signed_ms = verify(headers, body, credentials, now=now)
        raw, spelled = parse_canonical(body)
        # required_text and text, called only for a value they would refuse (or a str subclass)
        order_id, name, wallet = raw.get("order_id"), raw.get("event"), raw.get("wallet")
        if type(order_id) is not str or not order_id:
            order_id = required_text(raw, "order_id")
        if type(name) is not str or not name:
            name = required_text(raw, "event")
        if wallet is not None and type(wallet) is not str:
            wallet = text(raw, "wallet")
        patch, issues = build_patch({"wallet_address": wallet})
        return [
            decoded_event(
                dialect=DialectName.REVOLUT,
                provider=Provider.REVOLUT,
                provider_event=name,  # str(ProviderEvent(name=name))
                provider_order_id=order_id,
                dedupe_key=f"{order_id}:{name}",
                occurred_at=from_ms(signed_ms),
                side=Side.BUY,
                status=TABLE.status_of(name),
                patch=patch,
                raw=raw,
                issues=issues,
                raw_json=spelled,
            )
        ]


def fields(status: OrderStatus, side: Side) -> frozenset[str]:
    return frozenset({"wallet_address"})


DIALECT: Dialect[RevolutCredentials] = Dialect.of_provider(
    DialectName.REVOLUT,
    Provider.REVOLUT,
    TABLE,
    policy=POLICY,
    encode=encode,
    decode=decode,
    fields=fields,
    credentials_from_secrets=credentials_from_secrets,
)
