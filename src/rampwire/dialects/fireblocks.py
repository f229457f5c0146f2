"""Fireblocks Webhooks v2: ``order.updated`` signed with a detached RS512 JWS.

Body: the documented notification envelope ``{id (uuid), resourceId, webhookId, workspaceId,
eventType: "order.updated", createdAt (epoch ms), data: orderDetails}`` (or, on request, the
seed's ``{"event": {"type", "data"}}``); decode accepts both. Headers:

- ``Fireblocks-Webhook-Signature``: ``<b64url protected header>..<b64url signature>``, RS512 with
  the ``kid`` in the protected header; verified by rebuilding ``header.b64url(body).signature``
  against the configured JWKS key with that ``kid`` (no network: ingest fetches and caches the
  JWKS and hands the keys over).
- ``Fireblocks-Signature`` (legacy): base64 RSA-SHA512 (PKCS#1 v1.5) over the raw body; sent by
  default, accepted only when configured and only when the JWS header is absent.

There is no timestamp header: dedupe on the notification ``id``, which rampwire derives from the
event id so that retries keep it. Key helpers (:func:`generate_signing_key`, :func:`jwks`...) come
from :mod:`rampwire.dialects.jose`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from ..domain.orders import Order, OrderStatus, Provider, Side
from . import fireblocks_order as details
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
from .errors import (
    InvalidCredentials,
    MalformedHeader,
    MissingHeader,
    SignatureMismatch,
    UnknownKey,
    translate_errors,
)
from .jose import (
    PublicKey,
    SigningKey,
    b64url_encode,
    generate_signing_key,
    jwks,
    load_jwks,
    load_public_pem,
    load_signing_key,
    private_key_pem,
    protected_header,
    rs512_sign,
    rs512_verify,
    split_compact,
)
from .wire import JSON_HEADERS, dumps, from_ms, lower_headers, parse_iso, parse_object, to_ms

__all__ = [  # the key helpers are re-exported for the JWKS endpoint and key management
    "DIALECT",
    "FireblocksCredentials",
    "decode",
    "encode",
    "generate_signing_key",
    "jwks",
    "load_jwks",
    "load_public_pem",
    "load_signing_key",
    "private_key_pem",
]

SIGNATURE_HEADER: Final = "Fireblocks-Webhook-Signature"
LEGACY_SIGNATURE_HEADER: Final = "Fireblocks-Signature"
ALGORITHM: Final = "RS512"
EVENT_TYPE: Final = "order.updated"
NAMESPACE: Final = uuid.UUID("6f1c3c3e-5b0a-4e52-9a51-7a6d2c0f9b11")  # rampwire's uuid5 namespace

POLICY = DeliveryPolicy(
    retry_delays=(10, 30, 120, 300, 900, 1800, 3600, 7200, 14400),
    jitter=0.0,  # Fireblocks publishes exact delays
    retry_client_errors=False,
    retried_client_errors=frozenset({408, 429}),
)
"""Fireblocks: 10 attempts; 5xx and no response retried; 4xx only when 408 or 429."""

S = OrderStatus


def _fb(status: str) -> ProviderEvent:
    return ProviderEvent(name=EVENT_TYPE, status=status)


_OUT: Mapping[OrderStatus, ProviderEvent] = {
    S.CREATED: _fb("CREATED"),
    S.PENDING_USER_ACTION: _fb("PENDING_USER_ACTION"),
    S.AWAITING_PAYMENT: _fb("AWAITING_PAYMENT"),
    S.PAYMENT_SUBMITTED: _fb("AWAITING_PAYMENT"),  # lossy: not settled yet
    S.PAYMENT_VERIFYING: _fb("AWAITING_PAYMENT"),  # lossy
    S.AMOUNT_MISMATCH: _fb("AWAITING_PAYMENT"),  # lossy
    S.PAYMENT_RECEIVED: _fb("PROCESSING"),  # lossy: the steps tell how far it got
    S.PROCESSING: _fb("PROCESSING"),
    S.ON_HOLD: _fb("PROCESSING"),  # lossy
    S.DELIVERY_SENT: _fb("PROCESSING"),  # lossy
    S.COMPLETED: _fb("COMPLETED"),
    S.FAILED: _fb("FAILED"),
    S.CANCELLED: _fb("CANCELLED"),
    S.EXPIRED: _fb("FAILED"),  # with failure.reason ORDER_EXPIRED: read back as expired
    S.REFUNDED: _fb("FAILED"),  # with failure.reason REFUNDED: read back as refunded
}
TABLE = StatusTable(
    provider=Provider.FIREBLOCKS,
    outbound={Side.BUY: _OUT, Side.SELL: _OUT},
    inbound={
        _fb("CREATED"): S.CREATED,
        _fb("PENDING_USER_ACTION"): S.PENDING_USER_ACTION,
        _fb("AWAITING_PAYMENT"): S.AWAITING_PAYMENT,
        _fb("PROCESSING"): S.PROCESSING,
        _fb("COMPLETED"): S.COMPLETED,
        _fb("FAILED"): S.FAILED,
        _fb("CANCELLED"): S.CANCELLED,
        _fb("CANCELED"): S.CANCELLED,  # the order API's spelling
    },
)
FAILURE_STATUS: Mapping[str, OrderStatus] = {"ORDER_EXPIRED": S.EXPIRED, "REFUNDED": S.REFUNDED}
"""A FAILED order whose failure reason is one of these has the canonical status given."""
_REASON_SENT = {S.EXPIRED: "ORDER_EXPIRED", S.REFUNDED: "REFUNDED"}


class Envelope(StrEnum):
    DOCUMENTED = "documented"  # {id, resourceId, webhookId, workspaceId, eventType, ...}
    SEED = "seed"  # {"event": {"type", "data"}}


@dataclass(frozen=True, kw_only=True, slots=True)
class FireblocksCredentials:
    """Keys and sender settings of a Fireblocks endpoint or source.

    ``signing_key`` signs (encode); ``verify_keys`` verify (decode), looked up by ``kid``; a key
    without a ``kid`` (a bare PEM) matches any. With no ``verify_keys`` the signing key's public
    half verifies.
    """

    signing_key: SigningKey | None = None
    verify_keys: tuple[PublicKey, ...] = ()
    send_legacy_signature: bool = True
    accept_legacy_signature: bool = False
    envelope: Envelope = Envelope.DOCUMENTED
    webhook_id: str | None = None  # default: derived from the key id
    workspace_id: str | None = None  # default: derived from the key id

    def __post_init__(self) -> None:
        if self.signing_key is None and not self.verify_keys:
            raise InvalidCredentials("Fireblocks needs a signing key or verification keys")

    @property
    def verification_keys(self) -> tuple[PublicKey, ...]:
        if self.verify_keys or self.signing_key is None:
            return self.verify_keys
        return (self.signing_key.public,)


def credentials_from_secrets(secrets: Sequence[str]) -> FireblocksCredentials:
    """From PEM private keys (the first signs), PEM public keys or JWKS documents."""
    signing: list[SigningKey] = []
    public: list[PublicKey] = []
    for secret in secrets:
        item = secret.strip()
        if item.startswith("{"):
            public.extend(load_jwks(item))
        elif "PRIVATE KEY" in item:
            signing.append(load_signing_key(item))
        else:
            public.append(load_public_pem(item))
    return FireblocksCredentials(
        signing_key=signing[0] if signing else None,
        verify_keys=(*(key.public for key in signing), *public),
    )


def _derived_id(kind: str, key: SigningKey) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key.kid}"))


def encode(
    event: EventLike, order: Order, credentials: FireblocksCredentials, *, now: datetime
) -> WireRequest:
    key = credentials.signing_key
    if key is None:
        raise InvalidCredentials("encoding for Fireblocks needs a signing key")
    status = announced_status(event, order)
    wire = TABLE.to_provider(status, order.side)
    data = details.order_details(order, wire.status or "", failure_reason=_REASON_SENT.get(status))
    envelope: dict[str, Any]
    if credentials.envelope is Envelope.SEED:
        envelope = {"event": {"type": EVENT_TYPE, "data": data}}
    else:
        envelope = {
            "id": str(uuid.uuid5(NAMESPACE, event.id)),  # stable across retries
            "resourceId": wire_order_id(order, Provider.FIREBLOCKS),
            "webhookId": credentials.webhook_id or _derived_id("webhook", key),
            "workspaceId": credentials.workspace_id or _derived_id("workspace", key),
            "eventType": EVENT_TYPE,
            "createdAt": to_ms(event.created_at),
            "data": data,
        }
    body = dumps(envelope)
    return WireRequest(headers={**JSON_HEADERS, **sign(body, credentials)}, body=body)


def sign(body: bytes, credentials: FireblocksCredentials) -> dict[str, str]:
    """The signature headers for ``body``."""
    key = credentials.signing_key
    if key is None:
        raise InvalidCredentials("signing for Fireblocks needs a signing key")
    header = protected_header({"alg": ALGORITHM, "kid": key.kid})
    signature = rs512_sign(key, f"{header}.{b64url_encode(body)}".encode("ascii"))
    headers = {SIGNATURE_HEADER: f"{header}..{b64url_encode(signature)}"}
    if credentials.send_legacy_signature:
        headers[LEGACY_SIGNATURE_HEADER] = base64.b64encode(rs512_sign(key, body)).decode()
    return headers


def verify(headers: Mapping[str, str], body: bytes, credentials: FireblocksCredentials) -> None:
    """Check the detached JWS, or the legacy signature when configured and alone."""
    lowered = lower_headers(headers)
    keys = credentials.verification_keys
    jws = lowered.get(SIGNATURE_HEADER.lower())
    legacy = lowered.get(LEGACY_SIGNATURE_HEADER.lower())
    if jws is None and legacy is not None and credentials.accept_legacy_signature:
        try:
            signature = base64.b64decode(legacy.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedHeader(f"{LEGACY_SIGNATURE_HEADER} is not base64") from exc
        if not any(rs512_verify(key, signature, body) for key in keys):
            raise SignatureMismatch(f"{LEGACY_SIGNATURE_HEADER} matches none of the keys")
        return
    if jws is None:
        raise MissingHeader(f"the {SIGNATURE_HEADER} header is missing", header=SIGNATURE_HEADER)
    compact = split_compact(jws, what=SIGNATURE_HEADER, alg=ALGORITHM)
    payload = b64url_encode(body)
    if compact.payload_b64 not in ("", payload):
        raise SignatureMismatch(f"the {SIGNATURE_HEADER} payload is not this body")
    kid = compact.header.get("kid")
    candidates = [k for k in keys if k.kid is None or (k.kid == kid and isinstance(kid, str))]
    if not candidates:
        raise UnknownKey(f"no configured key has kid {str(kid)[:80]!r}", kid=str(kid)[:80])
    message = f"{compact.header_b64}.{payload}".encode("ascii")
    if not any(rs512_verify(key, compact.signature, message) for key in candidates):
        raise SignatureMismatch(f"{SIGNATURE_HEADER} does not verify with key {kid!r}")


def decode(
    headers: Mapping[str, str],
    body: bytes,
    credentials: FireblocksCredentials,
    *,
    now: datetime,
    peer_ip: str | None = None,
    url_token: str | None = None,
) -> list[DecodedEvent]:
    """Verify, then read either envelope; notifications other than ``order.*`` decode to [].

    Event time: the order's ``updatedAt``, else the notification's ``createdAt``, else the
    order's ``createdAt``, else the time received.
    """
    with translate_errors("Fireblocks webhook"):
        verify(headers, body, credentials)
        raw = parse_object(body, decimals=True)
        if "eventType" in raw:
            event_type, data, notification = raw["eventType"], raw.get("data"), raw.get("id")
        elif isinstance(raw.get("event"), dict):
            seed = raw["event"]
            event_type, data, notification = seed.get("type"), seed.get("data"), None
        else:
            raise ValueError("neither the documented envelope nor the seed's {event: ...}")
        if not isinstance(event_type, str):
            raise ValueError("the notification has no eventType")
        if not event_type.startswith("order."):
            return []
        if not isinstance(data, dict):
            raise ValueError("the notification carries no order details")
        return [_read(raw, data, notification, event_type, now)]


def _read(
    raw: dict[str, Any], data: dict[str, Any], notification: Any, event_type: str, now: datetime
) -> DecodedEvent:
    order_id, wire_status = data.get("id"), data.get("status")
    if not isinstance(order_id, str) or not order_id or not isinstance(wire_status, str):
        raise ValueError("the order details need an id and a status")
    event = ProviderEvent(name=event_type, status=wire_status)
    status = TABLE.from_provider(event)
    if status is S.FAILED:
        status = FAILURE_STATUS.get(details.failure_reason(data) or "", S.FAILED)
    occurred_at: datetime | None = None
    for value in (data.get("updatedAt"), raw.get("createdAt"), data.get("createdAt")):
        if value is not None:
            occurred_at = from_ms(value) if isinstance(value, int) else parse_iso(value)
            break
    if not isinstance(notification, str) or not notification:
        notification = f"{order_id}:{wire_status}:{data.get('updatedAt')}"
    patch, issues = build_patch(details.order_patch(data))
    return decoded_event(
        dialect=DialectName.FIREBLOCKS,
        provider=Provider.FIREBLOCKS,
        provider_event=str(event),
        provider_order_id=order_id,
        dedupe_key=notification,
        occurred_at=now if occurred_at is None else occurred_at,
        timed=occurred_at is not None,
        side=details.side_of(data),
        status=status,
        patch=patch,
        raw=raw,
        issues=issues,
    )


FIELDS = frozenset(
    {
        "fiat",
        "crypto",
        "execution",
        "execution_steps",
        "payment",
        "receipt",
        "settlement",
        "via",
        "references",
        "note",
        "expires_at",
        "failure",
        "fees",
    }
)


def fields(status: OrderStatus, side: Side) -> frozenset[str]:
    return FIELDS


DIALECT: Dialect[FireblocksCredentials] = Dialect.of_provider(
    DialectName.FIREBLOCKS,
    Provider.FIREBLOCKS,
    TABLE,
    policy=POLICY,
    encode=encode,
    decode=decode,
    fields=fields,
    credentials_from_secrets=credentials_from_secrets,
)
