"""Endpoints: where events go, in which wire format, and how fast.

An endpoint subscribes to event types by pattern (``order.*``, ``order.completed``, ``*``),
speaks one wire format (its *dialect*: ``standard`` or a provider's), signs with its secrets (a
rotated-out secret keeps signing for :data:`ROTATION_OVERLAP`), and may ask for per-order FIFO
delivery.

What a secret is depends on the dialect: ``whsec_`` + base64 for ``standard``; Revolut's
``wsk_`` signing secret; a shared secret for Saber and Koywe; the partner access token for
Transak. Fireblocks endpoints have none: rampwire's own RSA key signs, and its public half is
served at ``/.well-known/jwks.json``. A ``standard`` endpoint's ``signatures`` say how it is
signed: ``v1`` (HMAC with its secrets, the default), ``v1a`` (rampwire's ed25519 key, published
at ``/.well-known/webhook-public-keys``), or both.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, NamedTuple

from ..dialects import get_dialect
from ..dialects.base import DialectName
from ..dialects.errors import UnknownDialect
from ..domain.events import EVENT_TYPES
from ..settings import Secret
from ..types import record_maker

ENDPOINT_ID_PREFIX = "ep"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # random bytes in a generated secret
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # for whsec_ secrets a user brings
MIN_SHARED_SECRET, MAX_SHARED_SECRET = 16, 2048  # characters, for the providers' secrets
KEY_SIGNED = frozenset({DialectName.FIREBLOCKS})  # signed with rampwire's key, no secret
_SHARED_PREFIX = {DialectName.REVOLUT: "wsk_"}  # generated secrets look like the provider's
SIGNATURE_SCHEMES = ("v1", "v1a")  # Standard Webhooks: HMAC-SHA256, ed25519
DEFAULT_SIGNATURES = ("v1",)
ROTATION_OVERLAP = timedelta(hours=24)  # an old secret keeps signing this long after rotation
DEFAULT_MAX_IN_FLIGHT = 50  # concurrent requests to one endpoint
MAX_MAX_IN_FLIGHT = 1000
MAX_RATE_LIMIT = 10_000  # requests per second
MAX_HEADERS = 20
MAX_HEADER_VALUE_LENGTH = 1024
HEADER_MASK = "********"  # what the API shows for a custom header's value
MAX_PATTERNS = 50

_PATTERN = re.compile(r"^(\*|[a-z][a-z_]*(\.([a-z][a-z_]*|\*))*)$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
FORBIDDEN_HEADERS = frozenset(
    {
        "host", "content-length", "content-type", "transfer-encoding", "connection",
        "keep-alive", "upgrade", "te", "trailer", "expect", "proxy-authorization",
        "proxy-connection", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature",
        "revolut-request-timestamp", "revolut-signature", "x-saber-timestamp",
        "x-saber-signature", "fireblocks-signature", "fireblocks-webhook-signature",
    }
)  # fmt: skip


class Ordering(StrEnum):
    NONE = "none"
    PER_ORDER_FIFO = "per_order_fifo"


class EndpointError(ValueError):
    """An endpoint setting is invalid; ``field`` names it."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True, kw_only=True, slots=True)
class SigningSecret:
    value: Secret
    created_at: datetime
    expires_at: datetime | None = None  # set when rotated out

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    id: str
    url: str
    event_types: tuple[str, ...]
    dialect: str
    secrets: tuple[SigningSecret, ...]
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_limit: int | None = None  # requests per second; None: unlimited
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    ordering: Ordering = Ordering.NONE
    retry_policy: Mapping[str, object] | None = None  # overrides the dialect's
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    last_success_at: datetime | None = None
    failing_since: datetime | None = None
    partner_id: str | None = None  # the partner that owns it; None: the operator's
    # an operator endpoint's subscription to partners' orders (:func:`reaches`)
    partners: tuple[str, ...] = ()
    signatures: tuple[str, ...] = DEFAULT_SIGNATURES  # standard endpoints: v1 and/or v1a
    traceparent: bool = False  # deliveries carry the attempt span's W3C traceparent (tracing)

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def signing_secrets(self, now: datetime) -> list[Secret]:
        """Newest first; rotated-out secrets until they expire."""
        if len(self.secrets) == 1 and self.secrets[0].expires_at is None:  # most endpoints
            return [self.secrets[0].value]
        live = [s for s in self.secrets if s.active(now)]
        live.sort(key=lambda s: s.created_at, reverse=True)
        return [s.value for s in live]


# A stored signing secret as the worker keeps it: its value, and when it was made and stops
# signing (None: never) in microseconds since the epoch, as stored: no datetime made of them.
StoredSecret = tuple[Secret, int, int | None]


class StoredTarget(NamedTuple):
    """What a worker reads of an endpoint's row, decrypted: the part its send settings (a
    :class:`~rampwire.delivery.sender.Target`) are built of, and what it keeps to build them
    again. Times stay the stored microseconds; the columns no send needs are not read.

    A named tuple, not a frozen dataclass as :class:`Endpoint` is: made of a row's values in one
    ``tuple.__new__`` (:func:`stored_target`), where a slotted dataclass sets its fields one by
    one, for each endpoint a worker reads."""

    id: str
    version: int  # updated_at in microseconds, as each claimed delivery carries it
    url: str
    dialect: str
    secrets: tuple[StoredSecret, ...]  # as stored
    headers: Mapping[str, str]
    rate_limit: int | None
    max_in_flight: int
    retry_policy: Mapping[str, object] | None
    enabled: bool
    signatures: tuple[str, ...]
    traceparent: bool

    def signing_secrets(self, now_us: int) -> tuple[Secret, ...]:
        """Newest first; rotated-out secrets until they expire (:meth:`Endpoint.signing_secrets`
        in stored microseconds)."""
        secrets = self.secrets
        if len(secrets) == 1 and secrets[0][2] is None:  # most endpoints
            return (secrets[0][0],)
        live = [s for s in secrets if s[2] is None or s[2] > now_us]
        live.sort(key=lambda s: s[1], reverse=True)
        return tuple(s[0] for s in live)


# A StoredTarget of its fields' values in order, made in C: the generated __new__ parses
# keywords, and a worker makes one for each endpoint it reads. Unlike the keyword constructor it
# takes any count, so the one use (the repository's, of a row) is checked field by field by
# tests/integration/test_worker_targets.py.
stored_target: Callable[[tuple[Any, ...]], StoredTarget] = partial(tuple.__new__, StoredTarget)


ENDPOINT_FIELDS = tuple(f.name for f in fields(Endpoint))
# An endpoint of every field's value, in ENDPOINT_FIELDS' order: the stored rows' path (a
# worker reads thousands), at about half the cost of the keyword constructor.
endpoint_of_values = record_maker(Endpoint)


def matches(patterns: Iterable[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


ALL_PARTNERS = "*"


def reaches(owner: str | None, partners: Iterable[str], order_partner: str | None) -> bool:
    """Whether an event of an order of ``order_partner`` (None: the operator's) goes to an
    endpoint of ``owner`` subscribed to ``partners``. A partner's endpoint gets its own
    partner's orders only; an operator endpoint gets the operator's orders, plus those of the
    partners it lists (``"*"``: every partner)."""
    if owner is not None:
        return owner == order_partner
    if order_partner is None:
        return True
    return any(p == ALL_PARTNERS or p == order_partner for p in partners)


def check_patterns(
    patterns: list[str], dialect: DialectName = DialectName.STANDARD
) -> tuple[str, ...]:
    """The patterns, deduplicated; each must match an event type the dialect can carry."""
    carried = [t for t in EVENT_TYPES if get_dialect(dialect).can_encode(t)]
    if not patterns:
        raise EndpointError("event_types", 'give at least one pattern, such as "order.*"')
    if len(patterns) > MAX_PATTERNS:
        raise EndpointError("event_types", f"at most {MAX_PATTERNS} patterns")
    for index, pattern in enumerate(patterns):
        where = f"event_types.{index}"
        if not _PATTERN.match(pattern) or ("*" in pattern and not pattern.endswith("*")):
            raise EndpointError(
                where, f'{pattern!r} is not a pattern; use "*", "order.*" or a full type'
            )
        if not any(matches([pattern], known) for known in EVENT_TYPES):
            raise EndpointError(where, f"{pattern!r} matches no event type")
        if not any(matches([pattern], known) for known in carried):
            raise EndpointError(
                where, f"{pattern!r} matches no event the {dialect.value} format can carry"
            )
    return tuple(dict.fromkeys(patterns))


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise EndpointError("headers", f"at most {MAX_HEADERS} custom headers")
    for name, value in headers.items():
        where = f"headers.{name}"
        if not _TOKEN.match(name):
            raise EndpointError(where, "is not a valid header name")
        lowered = name.lower()
        if lowered in FORBIDDEN_HEADERS or lowered.startswith("proxy-"):
            raise EndpointError(where, "is set by rampwire and cannot be overridden")
        if len(value) > MAX_HEADER_VALUE_LENGTH:
            raise EndpointError(where, f"is longer than {MAX_HEADER_VALUE_LENGTH} characters")
        if any(c in value for c in "\r\n\x00"):
            raise EndpointError(where, "must not contain line breaks or NUL")
    return dict(headers)


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The names, each value replaced by :data:`HEADER_MASK`: header values are credentials."""
    return dict.fromkeys(headers, HEADER_MASK)


def unmask_headers(given: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """``given``, where a value sent back as the mask keeps the stored value of that header
    (so a client that reads an endpoint and writes it back keeps its credentials)."""
    kept = {name.lower(): value for name, value in current.items()}
    headers = {}
    for name, value in given.items():
        if value == HEADER_MASK:
            if name.lower() not in kept:
                raise EndpointError(
                    f"headers.{name}", "is the mask shown for a stored value; give the value"
                )
            value = kept[name.lower()]
        headers[name] = value
    return headers


def check_dialect(name: str) -> DialectName:
    try:
        return get_dialect(name).name
    except UnknownDialect as exc:
        known = ", ".join(d.value for d in DialectName)
        raise EndpointError("dialect", f"{name!r} is not a dialect; use one of {known}") from exc


def check_signatures(values: Iterable[str], dialect: DialectName) -> tuple[str, ...]:
    """The signature schemes of an endpoint, deduplicated in the canonical order."""
    chosen = set(values)
    unknown = chosen - set(SIGNATURE_SCHEMES)
    if unknown:
        raise EndpointError(
            "signatures", f"{sorted(unknown)} unknown; use v1 (HMAC), v1a (ed25519) or both"
        )
    if not chosen:
        raise EndpointError("signatures", "give at least one of v1 and v1a")
    if dialect is not DialectName.STANDARD and chosen != set(DEFAULT_SIGNATURES):
        raise EndpointError(
            "signatures", f"{dialect.value} endpoints are signed the provider's way only"
        )
    return tuple(s for s in SIGNATURE_SCHEMES if s in chosen)


def new_secret(dialect: DialectName = DialectName.STANDARD) -> str | None:
    """A fresh secret in the dialect's format; None where rampwire's own key signs."""
    if dialect in KEY_SIGNED:
        return None
    if dialect is DialectName.STANDARD:
        raw = secrets.token_bytes(SECRET_BYTES)
        return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")
    return _SHARED_PREFIX.get(dialect, "") + secrets.token_urlsafe(32)


def check_secret(value: str, dialect: DialectName = DialectName.STANDARD) -> str:
    """A secret a user brings, in the dialect's format."""
    if dialect in KEY_SIGNED:
        raise EndpointError(
            "secret", f"{dialect.value} endpoints are signed with rampwire's key; give no secret"
        )
    if dialect is not DialectName.STANDARD:
        if not MIN_SHARED_SECRET <= len(value) <= MAX_SHARED_SECRET:
            raise EndpointError(
                "secret", f"must be {MIN_SHARED_SECRET} to {MAX_SHARED_SECRET} characters"
            )
        if not value.isascii() or not value.isprintable() or " " in value:
            raise EndpointError("secret", "must be printable ASCII without spaces")
        return value
    if not value.startswith(SECRET_PREFIX):
        raise EndpointError("secret", f"must start with {SECRET_PREFIX}")
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EndpointError("secret", "must be whsec_ followed by base64") from exc
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise EndpointError(
            "secret", f"must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(raw)}"
        )
    return value
