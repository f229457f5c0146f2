"""Transak: the order inside an HS256 JWT keyed with the partner access token.

Body ``{"data": "<JWT>"}``; the JWT is signed, not encrypted: header ``{"alg": "HS256", "typ":
"JWT"}``, claims ``{"eventID", "createdAt", "webhookData": {...order...}}``. Verification pins HS256
(``none``, RS256 and every other ``alg`` are refused), checks ``exp`` when present and the signed
``createdAt`` against the source's tolerance (five minutes by default, either way: an older token
is a replay), and accepts the current or the previous access token, since refreshing the token
changes the key. Money in
``webhookData`` travels as JSON numbers: they are read as Decimal and written exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from ..domain.orders import Order, OrderStatus, Provider, Side
from ..settings import Secret
from ..types import parse_decimal
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
    MissingSignature,
    MissingTimestamp,
    SignatureMismatch,
    TimestampOutOfWindow,
    TokenExpired,
    translate_errors,
)
from .jose import b64url_decode, b64url_encode, protected_header, split_compact
from .transak_order import SIDES, order_patch, webhook_data
from .wire import (
    DEFAULT_TOLERANCE,
    JSON_HEADERS,
    HmacSha256,
    check_window,
    hmac_sha256,
    iso_ms,
    matches_any,
    parse_canonical,
    parse_iso,
    parse_object,
    to_ms,
)

ALGORITHM = "HS256"

POLICY = DeliveryPolicy(retry_delays=STANDARD_RETRY_DELAYS, jitter=STANDARD_JITTER)
"""Transak publishes no retry behaviour: rampwire uses the Standard Webhooks ladder."""

S = OrderStatus
E = ProviderEvent
AWAITING = E(name="ORDER_CREATED", status="AWAITING_PAYMENT_FROM_USER")
MARKED_PAID = E(name="ORDER_PAYMENT_VERIFYING", status="PAYMENT_DONE_MARKED_BY_USER")
PROCESSING = E(name="ORDER_PROCESSING", status="PROCESSING")
PENDING_DELIVERY = E(name="ORDER_PROCESSING", status="PENDING_DELIVERY_FROM_TRANSAK")
ON_HOLD = E(name="ORDER_PROCESSING", status="ON_HOLD_PENDING_DELIVERY_FROM_TRANSAK")
COMPLETED = E(name="ORDER_COMPLETED", status="COMPLETED")
FAILED = E(name="ORDER_FAILED", status="FAILED")
CANCELLED = E(name="ORDER_FAILED", status="CANCELLED")
EXPIRED = E(name="ORDER_FAILED", status="EXPIRED")
EXPIRED_SAMPLE = E(name="ORDER_EXPIRED", status="EXPIRED")  # the seed's sample; read, not sent
REFUNDED = E(name="ORDER_REFUNDED", status="REFUNDED")


def _table(side: Side) -> Mapping[OrderStatus, ProviderEvent]:
    return {
        S.CREATED: AWAITING,  # lossy: Transak's first event already awaits payment
        S.PENDING_USER_ACTION: AWAITING,  # lossy
        S.AWAITING_PAYMENT: AWAITING,
        S.PAYMENT_SUBMITTED: MARKED_PAID,
        S.PAYMENT_VERIFYING: MARKED_PAID,  # lossy
        S.AMOUNT_MISMATCH: MARKED_PAID,  # lossy: the payment is not accepted yet
        # off-ramp documents no PROCESSING status: payment received is pending delivery there
        S.PAYMENT_RECEIVED: PROCESSING if side is Side.BUY else PENDING_DELIVERY,
        S.PROCESSING: PENDING_DELIVERY,
        S.ON_HOLD: ON_HOLD if side is Side.SELL else PENDING_DELIVERY,  # on hold: off-ramp only
        S.DELIVERY_SENT: PENDING_DELIVERY,  # lossy: completion is the next event
        S.COMPLETED: COMPLETED,
        S.FAILED: FAILED,
        S.CANCELLED: CANCELLED,
        S.EXPIRED: EXPIRED,  # sent as ORDER_FAILED, as the seed's table says
        S.REFUNDED: REFUNDED,
    }


TABLE = StatusTable(
    provider=Provider.TRANSAK,
    outbound={Side.BUY: _table(Side.BUY), Side.SELL: _table(Side.SELL)},
    inbound={
        AWAITING: S.AWAITING_PAYMENT,
        MARKED_PAID: S.PAYMENT_SUBMITTED,
        PROCESSING: S.PAYMENT_RECEIVED,
        PENDING_DELIVERY: S.PROCESSING,
        ON_HOLD: S.ON_HOLD,
        COMPLETED: S.COMPLETED,
        FAILED: S.FAILED,
        CANCELLED: S.CANCELLED,
        EXPIRED: S.EXPIRED,
        EXPIRED_SAMPLE: S.EXPIRED,
        REFUNDED: S.REFUNDED,
    },
    loose=True,  # an unknown pair is read by its status, then by its eventID
)


@dataclass(frozen=True, kw_only=True, slots=True)
class TransakCredentials:
    """Access tokens, current first: the first signs; the current or the previous verifies.

    ``tolerance``: refuse a ``createdAt`` claim further than this from now, either way.
    """

    access_tokens: tuple[Secret, ...]
    tolerance: timedelta = DEFAULT_TOLERANCE
    macs: tuple[HmacSha256, ...] = field(init=False, repr=False, compare=False)  # per token

    def __post_init__(self) -> None:
        if not self.access_tokens or not all(t.reveal() for t in self.access_tokens):
            raise InvalidCredentials("Transak needs the partner access token")
        macs = tuple(HmacSha256(t.reveal().encode()) for t in self.access_tokens)
        object.__setattr__(self, "macs", macs)


def credentials_from_secrets(secrets: Sequence[str]) -> TransakCredentials:
    return TransakCredentials(access_tokens=tuple(Secret(s) for s in secrets))


def sign_jwt(claims: bytes, token: Secret) -> str:
    """An HS256 JWT over already-serialised ``claims``."""
    signing_input = f"{protected_header({'alg': ALGORITHM, 'typ': 'JWT'})}.{b64url_encode(claims)}"
    mac = hmac_sha256(token.reveal().encode(), signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(mac)}"


def verify_jwt(
    token: str, credentials: TransakCredentials, *, now: datetime
) -> tuple[dict[str, Any], bytes, datetime | None]:
    """The claims of an authentic, unexpired HS256 JWT, Decimal for every fractional number,
    their :func:`~.wire.canonical` spelling, and the ``createdAt`` claim's time if any."""
    compact = split_compact(token, what="Transak JWT", alg=ALGORITHM)
    signing_input = compact.signing_input
    expected = [b64url_encode(mac.digest(signing_input)) for mac in credentials.macs]
    if not matches_any(expected, [compact.signature_b64]):
        raise SignatureMismatch("the JWT signature matches neither access token")
    return _claims(compact.payload, credentials, now)


# A body as Transak sends it, up to the JWT's payload: the JSON member, then the header every
# HS256 JWT of Transak's has (as sign_jwt writes it)
_PLAIN_HEAD = b'{"data":"' + protected_header({"alg": ALGORITHM, "typ": "JWT"}).encode() + b"."
_PLAIN_TAIL = b'"}'
_TOKEN_START = len(b'{"data":"')


def verify_plain_body(
    body: bytes, credentials: TransakCredentials, *, now: datetime
) -> tuple[dict[str, Any], bytes, datetime | None] | None:
    """:func:`verify_jwt` of the body's JWT, read from the bytes as they are, for a body that
    is exactly ``{"data":"<header>.<payload>.<signature>"}`` with the usual header, a strict
    base64url payload and a signature an access token makes; None for any other body, which the
    JSON parser and :func:`verify_jwt` then read in full, and refuse as they do.

    Such a body is the JSON text of that one string (its characters are all base64url or
    dots: the signature, equal to one that is made, has no other), so what this returns is
    what the general path returns; it spares that path's parsing of the body, splitting of the
    token and encoding of the signing input again."""
    if not (body.startswith(_PLAIN_HEAD) and body.endswith(_PLAIN_TAIL)):
        return None
    end = len(body) - len(_PLAIN_TAIL)
    dot = body.find(b".", len(_PLAIN_HEAD), end)
    if dot < 0:
        return None
    try:
        payload = b64url_decode(body[len(_PLAIN_HEAD) : dot])
    except ValueError:
        return None
    signing_input = body[_TOKEN_START:dot]
    expected = [b64url_encode(mac.digest(signing_input)) for mac in credentials.macs]
    if not matches_any(expected, [body[dot + 1 : end].decode("latin-1")]):
        return None  # the general path refuses it, with its own reason
    return _claims(payload, credentials, now)


def _claims(
    payload: bytes, credentials: TransakCredentials, now: datetime
) -> tuple[dict[str, Any], bytes, datetime | None]:
    """The claims of a JWT whose signature is verified, checked for their times."""
    claims, spelled = parse_canonical(payload, decimals=True)
    for claim, late in (("exp", True), ("nbf", False)):
        if claim in claims:
            now_s = Decimal(to_ms(now)) / 1000
            limit = parse_decimal(claims[claim])
            if late and now_s >= limit:
                raise TokenExpired(f"the JWT expired at {limit} (UNIX seconds)")
            if not late and now_s < limit:
                raise TimestampOutOfWindow(f"the JWT is not valid before {limit}")
    created = claims.get("createdAt")
    created_at = None if created is None else parse_iso(created)
    if created_at is not None:
        check_window(to_ms(created_at), now, credentials.tolerance, what="createdAt claim")
    elif "exp" not in claims:
        raise MissingTimestamp("the JWT carries neither createdAt nor exp: its age is unknown")
    return claims, spelled, created_at


def encode(
    event: EventLike, order: Order, credentials: TransakCredentials, *, now: datetime
) -> WireRequest:
    provider_event = TABLE.to_provider(announced_status(event, order), order.side)
    claims = orjson.dumps(
        {
            "eventID": provider_event.name,
            "createdAt": iso_ms(event.created_at),
            "webhookData": webhook_data(order, provider_event.status or ""),
        }
    )
    body = orjson.dumps({"data": sign_jwt(claims, credentials.access_tokens[0])})
    return WireRequest(headers=dict(JSON_HEADERS), body=body)


# one for every request: it keeps nothing of a request (its one attribute is this text)
_ERRORS = translate_errors("Transak webhook")


def decode(
    headers: Mapping[str, str],
    body: bytes,
    credentials: TransakCredentials,
    *,
    now: datetime,
    peer_ip: str | None = None,
    url_token: str | None = None,
) -> list[DecodedEvent]:
    """Verify the JWT, then read the order; the event time is the ``createdAt`` claim."""
    with _ERRORS:
        verified = verify_plain_body(body, credentials, now=now)
        if verified is None:
            token = parse_object(body).get("data")
            if not isinstance(token, str) or not token:
                raise MissingSignature("the body has no JWT in its data field")
            verified = verify_jwt(token, credentials, now=now)
        claims, spelled, created_at = verified
        data = claims.get("webhookData")
        if not isinstance(data, dict):
            raise ValueError("the JWT carries no webhookData object")
        order_id, name, status = data.get("id"), claims.get("eventID"), data.get("status")
        if not isinstance(order_id, str) or not order_id:
            raise ValueError("webhookData.id is missing")
        if not isinstance(name, str) or not (status is None or isinstance(status, str)):
            raise ValueError("eventID and webhookData.status must be strings")
        patch, issues = build_patch(order_patch(data))
        return [
            decoded_event(
                dialect=DialectName.TRANSAK,
                provider=Provider.TRANSAK,
                # str(ProviderEvent(name=name, status=status))
                provider_event=name if status is None else f"{name}/{status}",
                provider_order_id=order_id,
                dedupe_key=f"{order_id}:{status or name}",
                occurred_at=now if created_at is None else created_at,
                timed=created_at is not None,
                side=_side(data.get("isBuyOrSell")),
                status=TABLE.status_of(name, status),
                patch=patch,
                raw=claims,
                issues=issues,
                raw_json=spelled,
            )
        ]


def _side(value: object) -> Side | None:
    return SIDES.get(value) if isinstance(value, str) else None


_FIELDS = frozenset(
    {
        "fiat",
        "crypto",
        "wallet_address",
        "exchange_rate",
        "fees",
        "payment",
        "references",
        "transaction_hash",
        "transaction_link",
        "expires_at",
    }
)


def fields(status: OrderStatus, side: Side) -> frozenset[str]:
    return _FIELDS


DIALECT: Dialect[TransakCredentials] = Dialect.of_provider(
    DialectName.TRANSAK,
    Provider.TRANSAK,
    TABLE,
    policy=POLICY,
    encode=encode,
    decode=decode,
    fields=fields,
    credentials_from_secrets=credentials_from_secrets,
)
