"""Saber Money: INR on-ramp (``CRYPTO_BUY``) and off-ramp (deposit, SELL, withdraw).

Saber publishes no body-covering webhook signature, so ingest verifies in the mode configured
for the source (:class:`SaberAuth`), each an explicit input to :func:`decode`:

- ``hmac``: rampwire's own scheme, also what :func:`encode` sends when it has secrets: headers
  ``X-Saber-Timestamp`` (UNIX milliseconds) and ``X-Saber-Signature``, the lower-case hex
  HMAC-SHA256(secret, ``timestamp + "." + body``), comma-separated during a rotation; five-minute
  window. Saber's API-request signature (HMAC over client id and time) covers no body, so it
  cannot authenticate a webhook.
- ``token``: a secret token in the webhook URL. Ingest passes the token it found in the URL path
  as ``url_token`` (or the sender puts it in the ``X-Webhook-Token`` header); it is compared in
  constant time with the configured one.
- ``ip_allowlist``: ingest passes the connecting peer's address as ``peer_ip``; it must fall in
  one of the configured networks (Saber offers IP allow-listing).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, TypeAlias

from ..domain.orders import Order, OrderStatus, Provider, Side
from ..settings import Secret
from . import saber_order as shapes
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
    build_patch,
    decoded_event,
)
from .errors import (
    InvalidCredentials,
    MalformedHeader,
    SignatureMismatch,
    SourceRejected,
    translate_errors,
)
from .wire import (
    DEFAULT_TOLERANCE,
    JSON_HEADERS,
    check_window,
    dumps,
    from_ms,
    header_integer,
    hmac_sha256,
    lower_headers,
    matches_any,
    parse_object,
    require_header,
    to_ms,
)

TIMESTAMP_HEADER: Final = "X-Saber-Timestamp"
SIGNATURE_HEADER: Final = "X-Saber-Signature"
TOKEN_HEADER: Final = "X-Webhook-Token"

POLICY = DeliveryPolicy(retry_delays=STANDARD_RETRY_DELAYS, jitter=STANDARD_JITTER)
"""Saber publishes no retry behaviour: rampwire uses the Standard Webhooks ladder."""

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class SaberAuth(StrEnum):
    HMAC = "hmac"
    TOKEN = "token"
    IP_ALLOWLIST = "ip_allowlist"


S = OrderStatus
E = ProviderEvent


def _buy(status: str) -> ProviderEvent:
    return E(name=shapes.CRYPTO_BUY, status=status)


def _sell(status: str) -> ProviderEvent:
    return E(name=shapes.SELL, status=status)


def _deposit(status: str) -> ProviderEvent:
    return E(name=shapes.DEPOSIT, status=status)


_BUY: Mapping[OrderStatus, ProviderEvent] = {
    S.CREATED: _buy("CREATED"),  # lossy: Saber's first event is "I have transferred"
    S.PENDING_USER_ACTION: _buy("CREATED"),  # lossy
    S.AWAITING_PAYMENT: _buy("CREATED"),  # lossy
    S.PAYMENT_SUBMITTED: _buy("CREATED"),
    S.PAYMENT_VERIFYING: _buy("ONRAMP_INITIATED"),
    S.AMOUNT_MISMATCH: _buy("ONRAMP_INCONSISTENT"),
    S.PAYMENT_RECEIVED: _buy("ONRAMP_COMPLETED"),
    S.PROCESSING: _buy("ONRAMP_COMPLETED"),  # lossy: next is COMPLETED
    S.ON_HOLD: _buy("ONRAMP_COMPLETED"),  # lossy
    S.DELIVERY_SENT: _buy("ONRAMP_COMPLETED"),  # lossy
    S.COMPLETED: _buy("COMPLETED"),
    S.FAILED: _buy("FAILED"),
    S.CANCELLED: _buy("FAILED"),  # lossy
    S.EXPIRED: _buy("FAILED"),  # lossy: "payment not received" is Saber's failure
    S.REFUNDED: _buy("REFUND_COMPLETED"),
}
_SELL: Mapping[OrderStatus, ProviderEvent] = {
    S.CREATED: _sell("CREATED"),
    S.PENDING_USER_ACTION: _sell("CREATED"),  # lossy
    S.AWAITING_PAYMENT: _sell("CREATED"),  # lossy: waits for the user's crypto deposit
    S.PAYMENT_SUBMITTED: _deposit("PENDING"),  # lossy [I]: a deposit seen, not yet credited
    S.PAYMENT_VERIFYING: _deposit("PENDING"),  # [I]
    S.AMOUNT_MISMATCH: _deposit("PENDING"),  # lossy
    S.PAYMENT_RECEIVED: _deposit("COMPLETED"),
    S.PROCESSING: _sell("PROCESSING"),
    S.ON_HOLD: _sell("PROCESSING"),  # lossy
    S.DELIVERY_SENT: _sell("PROCESSING"),  # lossy: COMPLETED carries the bank reference
    S.COMPLETED: _sell("COMPLETED"),
    S.FAILED: _sell("FAILED"),
    S.CANCELLED: _sell("FAILED"),  # lossy
    S.EXPIRED: _sell("FAILED"),  # lossy
    S.REFUNDED: E(name=shapes.WITHDRAW, status="COMPLETED"),  # [I] the crypto goes back
}
TABLE = StatusTable(
    provider=Provider.SABER,
    outbound={Side.BUY: _BUY, Side.SELL: _SELL},
    inbound={
        _buy("CREATED"): S.PAYMENT_SUBMITTED,
        _buy("ONRAMP_INITIATED"): S.PAYMENT_VERIFYING,
        _buy("ONRAMP_INCONSISTENT"): S.AMOUNT_MISMATCH,
        _buy("ONRAMP_COMPLETED"): S.PAYMENT_RECEIVED,
        _buy("COMPLETED"): S.COMPLETED,
        _buy("FAILED"): S.FAILED,
        _buy("REFUND_COMPLETED"): S.REFUNDED,
        _sell("CREATED"): S.CREATED,
        _deposit("PENDING"): S.PAYMENT_VERIFYING,
        _deposit("COMPLETED"): S.PAYMENT_RECEIVED,
        _deposit("FAILED"): S.FAILED,
        _sell("PROCESSING"): S.PROCESSING,
        _sell("COMPLETED"): S.COMPLETED,
        _sell("FAILED"): S.FAILED,
        E(name=shapes.WITHDRAW, status="COMPLETED"): S.REFUNDED,
    },
)
_EVENT_NAMES = {
    name.lower(): name for name in (shapes.CRYPTO_BUY, shapes.SELL, shapes.DEPOSIT, shapes.WITHDRAW)
}


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse allow-listed networks such as ``"203.0.113.0/24"`` or a single address."""
    try:
        return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)
    except ValueError as exc:
        raise InvalidCredentials(f"not an IP network: {exc}") from exc


@dataclass(frozen=True, kw_only=True, slots=True)
class SaberCredentials:
    """How a Saber source is verified (``mode``) and what :func:`encode` signs with.

    ``secrets`` (newest first) sign every request and verify in ``hmac`` mode; ``url_token`` is
    the ``token`` mode's secret; ``allowed_networks`` the ``ip_allowlist`` mode's networks.
    """

    mode: SaberAuth = SaberAuth.HMAC
    secrets: tuple[Secret, ...] = ()
    url_token: Secret | None = None
    allowed_networks: tuple[Network, ...] = ()
    tolerance: timedelta = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if any(not s.reveal() for s in self.secrets):
            raise InvalidCredentials("Saber signing secrets must not be empty")
        if self.mode is SaberAuth.HMAC and not self.secrets:
            raise InvalidCredentials("the hmac mode needs at least one secret")
        if self.mode is SaberAuth.TOKEN and not (self.url_token and self.url_token.reveal()):
            raise InvalidCredentials("the token mode needs the URL token")
        if self.mode is SaberAuth.IP_ALLOWLIST and not self.allowed_networks:
            raise InvalidCredentials("the ip_allowlist mode needs at least one network")


def credentials_from_secrets(secrets: Sequence[str]) -> SaberCredentials:
    return SaberCredentials(mode=SaberAuth.HMAC, secrets=tuple(Secret(s) for s in secrets))


def _signatures(secrets: Iterable[Secret], timestamp: str, body: bytes) -> list[str]:
    signed = f"{timestamp}.".encode() + body
    return [hmac_sha256(s.reveal().encode(), signed).hex() for s in secrets]


def encode(
    event: EventLike, order: Order, credentials: SaberCredentials, *, now: datetime
) -> WireRequest:
    wire = TABLE.to_provider(announced_status(event, order), order.side)
    status = wire.status or ""
    if wire.name == shapes.CRYPTO_BUY:
        payload = shapes.crypto_buy(order, status)
    elif wire.name == shapes.SELL:
        payload = shapes.sell(order, status)
    else:
        payload = shapes.transfer(order, wire.name, status, updated_at_ms=to_ms(event.created_at))
    body = dumps(payload)
    headers = dict(JSON_HEADERS)
    if credentials.secrets:
        timestamp = str(to_ms(now))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = ",".join(_signatures(credentials.secrets, timestamp, body))
    return WireRequest(headers=headers, body=body)


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    credentials: SaberCredentials,
    *,
    now: datetime,
    peer_ip: str | None,
    url_token: str | None,
) -> None:
    """Verify a request in the configured mode; raise a VerificationError otherwise."""
    lowered = lower_headers(headers)
    if credentials.mode is SaberAuth.HMAC:
        timestamp = header_integer(lowered, TIMESTAMP_HEADER)
        received = require_header(lowered, SIGNATURE_HEADER)
        check_window(timestamp, now, credentials.tolerance, what=TIMESTAMP_HEADER)
        offered = [value.strip() for value in received.split(",") if value.strip()]
        if not offered:
            raise MalformedHeader(f"{SIGNATURE_HEADER} holds no signature")
        expected = _signatures(credentials.secrets, str(timestamp), body)
        if not matches_any(expected, offered):
            raise SignatureMismatch(f"{SIGNATURE_HEADER} matches none of the secrets")
    elif credentials.mode is SaberAuth.TOKEN:
        offered_token = url_token if url_token is not None else lowered.get(TOKEN_HEADER.lower())
        expected_token = credentials.url_token.reveal() if credentials.url_token else ""
        if not offered_token:
            raise SourceRejected("the request carries no webhook token (URL or header)")
        if not hmac.compare_digest(
            expected_token.encode(), offered_token.encode("utf-8", "replace")
        ):
            raise SourceRejected("the webhook token is not the configured one")
    else:
        _check_address(peer_ip, credentials.allowed_networks)


def _check_address(peer_ip: str | None, allowed: Sequence[Network]) -> None:
    if not peer_ip:
        raise SourceRejected("the peer address is unknown; ip_allowlist needs it")
    try:
        address = ipaddress.ip_address(peer_ip.strip())
    except ValueError as exc:
        raise SourceRejected(f"{peer_ip[:60]!r} is not an IP address") from exc
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not any(address in network for network in allowed):
        raise SourceRejected(f"{address} is not in the allowed networks")


def decode(
    headers: Mapping[str, str],
    body: bytes,
    credentials: SaberCredentials,
    *,
    now: datetime,
    peer_ip: str | None = None,
    url_token: str | None = None,
) -> list[DecodedEvent]:
    """Authenticate in the configured mode, then read one event of any of the four shapes.

    Event time: ``updated_at`` for deposit and withdraw; CRYPTO_BUY and SELL carry none (their
    ``created_at``/``invested_at`` is the order's), so it is the time received and the event is
    untimed: its fields are ordered by lifecycle step (:func:`rampwire.lifecycle.write_key`).
    """
    with translate_errors("Saber webhook"):
        authenticate(headers, body, credentials, now=now, peer_ip=peer_ip, url_token=url_token)
        raw = parse_object(body)
        return [_read(raw, now)]


def _read(raw: dict[str, Any], now: datetime) -> DecodedEvent:
    received_name = raw.get("event")
    if not isinstance(received_name, str):
        raise ValueError("the payload has no event name")
    name = _EVENT_NAMES.get(received_name.lower(), received_name)
    status_key = "transaction_status" if name == shapes.SELL else "status"
    order_key = "transaction_id" if name == shapes.SELL else "id"
    status, order_id = raw.get(status_key), raw.get(order_key)
    if not isinstance(status, str) or not isinstance(order_id, str) or not order_id:
        raise ValueError(f"{status_key!r} and {order_key!r} must be non-empty strings")
    event = ProviderEvent(name=name, status=status.upper())
    occurred_at: datetime | None = None  # CRYPTO_BUY and SELL carry no event time
    patch_source: dict[str, Any] = {}
    side: Side | None = Side.SELL
    if name == shapes.CRYPTO_BUY:
        side, patch_source = Side.BUY, shapes.buy_patch(raw, event.status or "")
    elif name == shapes.SELL:
        patch_source = shapes.sell_patch(raw)
    elif name in (shapes.DEPOSIT, shapes.WITHDRAW):
        occurred_at = from_ms(raw["updated_at"]) if raw.get("updated_at") is not None else None
        patch_source = shapes.deposit_patch(raw) if name == shapes.DEPOSIT else {}
    else:
        side = None
    patch, issues = build_patch(patch_source)
    return decoded_event(
        dialect=DialectName.SABER,
        provider=Provider.SABER,
        provider_event=str(event),
        provider_order_id=order_id,
        dedupe_key=f"{order_id}:{name}:{event.status}",
        occurred_at=now if occurred_at is None else occurred_at,
        timed=occurred_at is not None,
        side=side,
        status=TABLE.from_provider(event),
        patch=patch,
        raw=raw,
        issues=issues,
    )


def fields(status: OrderStatus, side: Side) -> frozenset[str]:
    if side is Side.BUY:
        return shapes.buy_fields(status)
    name = _SELL[status].name
    if name == shapes.SELL:
        return frozenset({"fiat", "payment"})
    if name == shapes.DEPOSIT:
        return frozenset({"crypto", "transaction_hash"})
    return frozenset()


DIALECT: Dialect[SaberCredentials] = Dialect.of_provider(
    DialectName.SABER,
    Provider.SABER,
    TABLE,
    policy=POLICY,
    encode=encode,
    decode=decode,
    fields=fields,
    credentials_from_secrets=credentials_from_secrets,
)
