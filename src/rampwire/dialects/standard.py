"""rampwire's own format: the canonical event envelope, signed the Standard Webhooks way.

Body: the envelope of :mod:`rampwire.events`, ``{id, type, created_at, data: {order,
previous_status, sequence, source}}``. Headers: ``webhook-id`` (the event id, stable across
retries), ``webhook-timestamp`` (UNIX seconds, at send time) and ``webhook-signature``:
``v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``, one per secret, space-separated
during a rotation. A secret is ``whsec_<base64 key>``. An endpoint may instead (or as well) be
signed with rampwire's ed25519 key: ``v1a,<base64 ed25519 signature>`` over the same content,
verified with the public key rampwire publishes (``whpk_<base64>``).

The signature covers the id, the send time and the body bytes, and nothing in the body depends
on the send time, so the delivery engine sends the outbox payload verbatim on every attempt and
only the two time-bound headers change (:func:`sign`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from secrets import token_bytes
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..domain import serde
from ..domain.events import Source
from ..domain.orders import PATCHABLE_FIELDS, Order, OrderStatus, Side
from ..settings import Secret
from ..types import require_utc
from .base import (
    STANDARD_JITTER,
    STANDARD_RETRY_DELAYS,
    DecodedEvent,
    DeliveryPolicy,
    Dialect,
    DialectName,
    EventLike,
    OutboundEvent,
    ProviderEvent,
    WireRequest,
    decoded_event,
)
from .errors import InvalidCredentials, MalformedHeader, SignatureMismatch, translate_errors
from .wire import (
    DEFAULT_TOLERANCE,
    check_window,
    header_integer,
    lower_headers,
    matches_any,
    parse_iso,
    parse_object,
    require_header,
)

SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = 32  # size of secrets made by generate_secret

POLICY = DeliveryPolicy(retry_delays=STANDARD_RETRY_DELAYS, jitter=STANDARD_JITTER)
"""Every non-2xx is retried; the delivery engine itself disables an endpoint on 410."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: Secret) -> bytes:
    value = secret.reveal().removeprefix(SECRET_PREFIX)
    try:
        # base64.b64decode(validate=True) without its two Python calls: the same strict decode
        key = binascii.a2b_base64(
            (value + "=" * (-len(value) % 4)).encode("ascii"), strict_mode=True
        )
    except (binascii.Error, ValueError) as exc:
        raise InvalidCredentials("a webhook secret is whsec_ followed by base64") from exc
    if not key:
        raise InvalidCredentials("a webhook secret must not be empty")
    return key


@dataclass(frozen=True, kw_only=True, slots=True)
class StandardCredentials:
    """Endpoint secrets, newest first: each one signs, any one verifies."""

    secrets: tuple[Secret, ...]
    tolerance: timedelta = DEFAULT_TOLERANCE
    ed25519_key: Ed25519PrivateKey | None = field(default=None, repr=False)  # signs v1a
    hmac_signatures: bool = True  # False: v1a only (needs ed25519_key)
    # decoded once here, not on every sign: the delivery engine signs with these per attempt
    _keys: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.secrets:
            raise InvalidCredentials("at least one whsec_ secret is needed")
        object.__setattr__(self, "_keys", tuple(map(_key, self.secrets)))
        if not self.hmac_signatures and self.ed25519_key is None:
            raise InvalidCredentials("v1a-only signing needs rampwire's ed25519 key")

    @property
    def keys(self) -> tuple[bytes, ...]:
        return self._keys


# StandardCredentials' slots, set by hmac_credentials in declaration order
_SLOTS = tuple(
    getattr(StandardCredentials, name).__set__
    for name in ("secrets", "tolerance", "ed25519_key", "hmac_signatures", "_keys")
)


def hmac_credentials(secrets: tuple[Secret, ...]) -> StandardCredentials:
    """``StandardCredentials(secrets=secrets)``, made through its slots: a worker builds one for
    every endpoint it reads, and the frozen keyword constructor (one ``object.__setattr__`` a
    field, then ``__post_init__``) cost about twice as much."""
    if not secrets:
        raise InvalidCredentials("at least one whsec_ secret is needed")
    made = object.__new__(StandardCredentials)
    values = (secrets, DEFAULT_TOLERANCE, None, True, tuple(map(_key, secrets)))
    for set_slot, value in zip(_SLOTS, values):  # noqa: B905 (as many values as slots)
        set_slot(made, value)
    return made


def credentials_from_secrets(secrets: Sequence[str]) -> StandardCredentials:
    return hmac_credentials(tuple(map(Secret, secrets)))


def _signatures(keys: Sequence[bytes], message_id: str, timestamp: str, body: bytes) -> list[str]:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return [
        "v1," + binascii.b2a_base64(hmac.digest(key, signed, "sha256"), newline=False).decode()
        for key in keys
    ]


def _ed25519_signature(key: Ed25519PrivateKey, message_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1a," + binascii.b2a_base64(key.sign(signed), newline=False).decode()


def sign(
    message_id: str, body: bytes, credentials: StandardCredentials, *, now: datetime
) -> WireRequest:
    """Headers for ``body`` sent now: the delivery engine's path for a stored payload."""
    timestamp = str(int(require_utc(now).timestamp()))
    signatures = []
    if credentials.ed25519_key is not None:
        signatures.append(_ed25519_signature(credentials.ed25519_key, message_id, timestamp, body))
    if credentials.hmac_signatures:
        signatures += _signatures(credentials.keys, message_id, timestamp, body)
    return WireRequest(
        headers={
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": " ".join(signatures),
        },
        body=body,
    )


def envelope(event: EventLike, order: Order) -> bytes:
    """The canonical envelope for an event that has no stored payload."""
    data = {
        "order": serde.dump(order),
        "previous_status": None,
        "sequence": order.version,
        "source": serde.dump(Source(received_at=event.created_at)),
    }
    return serde.to_json(
        {"id": event.id, "type": event.type, "created_at": event.created_at, "data": data}
    )


def encode(
    event: EventLike, order: Order, credentials: StandardCredentials, *, now: datetime
) -> WireRequest:
    """Sign the event's stored ``payload`` verbatim when it has one, else a fresh envelope."""
    payload = getattr(event, "payload", None)
    body = payload if isinstance(payload, bytes) else envelope(event, order)
    return sign(event.id, body, credentials, now=now)


def verify(
    headers: Mapping[str, str], body: bytes, credentials: StandardCredentials, *, now: datetime
) -> str:
    """Check a Standard Webhooks signature; return the ``webhook-id``."""
    lowered = lower_headers(headers)
    message_id = require_header(lowered, "webhook-id")
    timestamp = header_integer(lowered, "webhook-timestamp")
    received = require_header(lowered, "webhook-signature")
    check_window(timestamp * 1000, now, credentials.tolerance)
    offered = []
    for item in received.split():
        version, comma, value = item.partition(",")
        if not comma:
            raise MalformedHeader("webhook-signature entries look like v1,<base64>")
        if version == "v1":
            offered.append(value)
    if not offered:
        raise SignatureMismatch("webhook-signature carries no v1 signature")
    expected = _signatures(credentials.keys, message_id, str(timestamp), body)
    if not matches_any((e.removeprefix("v1,") for e in expected), offered):
        raise SignatureMismatch("webhook-signature matches none of the endpoint secrets")
    return message_id


def decode(
    headers: Mapping[str, str],
    body: bytes,
    credentials: StandardCredentials,
    *,
    now: datetime,
    peer_ip: str | None = None,
    url_token: str | None = None,
) -> list[DecodedEvent]:
    """Verify, then read the envelope; events without an order (``endpoint.*``) decode to []."""
    with translate_errors("standard webhook"):
        message_id = verify(headers, body, credentials, now=now)
        raw = parse_object(body)
        data = raw.get("data")
        if not isinstance(data, dict) or data.get("order") is None:
            return []
        order = serde.load(Order, data["order"])
        event_type = raw.get("type")
        if not isinstance(event_type, str):
            raise ValueError("the envelope has no event type")
        return [
            decoded_event(
                dialect=DialectName.STANDARD,
                provider=None,
                provider_event=event_type,
                provider_order_id=order.id,
                dedupe_key=message_id,
                occurred_at=parse_iso(raw.get("created_at")),
                side=order.side,
                status=order.status,
                patch=order.data(),
                raw=raw,
            )
        ]


def stored_event(payload: bytes) -> tuple[OutboundEvent, Order]:
    """The event and the order inside a stored envelope, to encode them in a provider dialect."""
    with translate_errors("stored event"):
        raw = parse_object(payload)
        data = raw.get("data")
        if not isinstance(data, dict) or data.get("order") is None:
            raise ValueError("the event carries no order")
        event = OutboundEvent(
            id=str(raw["id"]),
            type=str(raw["type"]),
            created_at=parse_iso(raw.get("created_at")),
            payload=payload,
        )
        return event, serde.load(Order, data["order"])


_STATUS_VALUES = frozenset(status.value for status in OrderStatus)


def to_provider(status: OrderStatus, side: Side) -> ProviderEvent:
    return ProviderEvent(name=f"order.{status.value}")


def from_provider(event: ProviderEvent, side: Side | None = None) -> OrderStatus | None:
    prefix, _, name = event.name.partition(".")
    if prefix != "order" or name not in _STATUS_VALUES:
        return None
    return OrderStatus(name)


def provider_events(side: Side) -> tuple[ProviderEvent, ...]:
    return tuple(ProviderEvent(name=f"order.{s.value}") for s in OrderStatus)


def fields(status: OrderStatus, side: Side) -> frozenset[str]:
    return frozenset(PATCHABLE_FIELDS)


DIALECT: Dialect[StandardCredentials] = Dialect(
    name=DialectName.STANDARD,
    provider=None,
    sides=frozenset(Side),
    policy=POLICY,
    encode=encode,
    decode=decode,
    to_provider=to_provider,
    from_provider=from_provider,
    provider_events=provider_events,
    fields=fields,
    credentials_from_secrets=credentials_from_secrets,
)
