"""What every dialect shares: the interface, the decoded event, the delivery policy.

A dialect turns a canonical event into one provider's request (:data:`Encoder`), verifies and
reads a provider's request back into canonical events (:data:`Decoder`), and maps statuses both
ways. Every failure is a :class:`~rampwire.dialects.errors.DialectError`; nothing else escapes a
decoder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ..domain.lifecycle import Change
from ..domain.orders import Order, OrderStatus, Provider, Side
from ..domain.serde import PatchError, load_patch
from ..types import keyword_maker, record_maker, require_utc
from .errors import (
    UnsupportedEvent,
)


class DialectName(StrEnum):
    STANDARD = "standard"
    REVOLUT = "revolut"
    SABER = "saber"
    FIREBLOCKS = "fireblocks"
    KOYWE = "koywe"
    TRANSAK = "transak"


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class WireRequest:
    """An HTTP request as the provider would send it: headers and the exact body bytes."""

    headers: dict[str, str]
    body: bytes


class EventLike(Protocol):
    """What an encoder needs of an event; :class:`rampwire.events.Event` is one."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboundEvent:
    """An event to encode. ``payload``, when set, is the stored standard envelope."""

    id: str
    type: str
    created_at: datetime
    payload: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", require_utc(self.created_at))


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderEvent:
    """A provider's name for a state: an event name and, where the provider has one, a status.

    Revolut ``ORDER_COMPLETED``; Transak ``ORDER_FAILED/EXPIRED``; Saber ``CRYPTO_BUY/COMPLETED``.
    """

    name: str
    status: str | None = None

    def __str__(self) -> str:
        return self.name if self.status is None else f"{self.name}/{self.status}"


_change = record_maker(Change)  # through its slots: one per decoded event applied


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodedEvent:
    """One verified provider event, ready to fold into the canonical lifecycle."""

    dialect: DialectName
    provider: Provider | None  # None: rampwire's own standard envelope
    provider_event: str  # str(ProviderEvent), or the standard event type
    provider_order_id: str
    dedupe_key: str
    occurred_at: datetime  # the provider's time when it sends one, else the time received
    side: Side | None
    status: OrderStatus | None  # None: an event with no canonical status (kept, not applied)
    patch: Mapping[str, Any]  # canonical field name -> validated domain value
    raw: dict[str, Any]  # the decoded provider payload
    issues: tuple[str, ...] = ()  # fields that were present but could not be read
    timed: bool = True  # False: the provider sent no time, ``occurred_at`` is the time received
    raw_json: bytes | None = None  # ``canonical(raw)`` when the dialect has it (parse_canonical)

    def __post_init__(self) -> None:
        utc = require_utc(self.occurred_at)
        if utc is not self.occurred_at:  # a UTC time is its own (astimezone returns it)
            object.__setattr__(self, "occurred_at", utc)

    def change(self) -> Change:
        # occurred_at, status, patch, timed
        return _change((self.occurred_at, self.status, dict(self.patch), self.timed))


decoded_event: Callable[..., DecodedEvent] = keyword_maker(DecodedEvent)
"""``DecodedEvent(...)`` for a third less: a decoder makes one per request, and the generated
``__init__`` sets each of its thirteen fields with ``object.__setattr__``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryPolicy:
    """How a dialect's sender retries, read by the delivery engine.

    ``retry_delays`` are the seconds to wait before retry 1, 2, ...; the first attempt is
    immediate, so a delivery makes at most ``1 + len(retry_delays)`` attempts. ``jitter`` spreads
    each delay by up to that fraction either way.
    """

    retry_delays: tuple[float, ...]
    jitter: float = 0.0
    retry_client_errors: bool = True  # retry 4xx responses at all
    retried_client_errors: frozenset[int] = frozenset()  # 4xx retried even when the above is off

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError("jitter is a fraction between 0 and 1")
        if any(delay < 0 for delay in self.retry_delays):
            raise ValueError("retry delays must not be negative")

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.retry_delays)

    def should_retry(self, status: int | None) -> bool:
        """Whether a response with ``status`` (None: no response or timeout) is retried."""
        if status is None:
            return True
        if 200 <= status < 300:
            return False
        if 400 <= status < 500:
            return self.retry_client_errors or status in self.retried_client_errors
        return True

    def delay(self, retry: int, *, spread: float = 0.0) -> float | None:
        """Seconds before retry number ``retry`` (1-based), or None when none is left.

        ``spread`` in [-1, 1] (a random draw, supplied by the caller) scales the jitter.
        """
        if not 1 <= retry <= len(self.retry_delays):
            return None
        spread = max(-1.0, min(1.0, spread))
        return self.retry_delays[retry - 1] * (1.0 + self.jitter * spread)


STANDARD_RETRY_DELAYS: tuple[float, ...] = (
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
)  # seconds; with the immediate first attempt: the Standard Webhooks ladder, about 3.3 days
STANDARD_JITTER = 0.2  # ±20 %


# --- the interface ------------------------------------------------------------------------------

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)


class Encoder(Protocol[C_contra]):
    def __call__(
        self, event: EventLike, order: Order, credentials: C_contra, *, now: datetime
    ) -> WireRequest: ...


class Decoder(Protocol[C_contra]):
    def __call__(
        self,
        headers: Mapping[str, str],
        body: bytes,
        credentials: C_contra,
        *,
        now: datetime,
        peer_ip: str | None = None,
        url_token: str | None = None,
    ) -> list[DecodedEvent]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Dialect(Generic[C]):
    """One wire format: its codec, its status tables and its sender's retry policy."""

    name: DialectName
    provider: Provider | None
    sides: frozenset[Side]
    policy: DeliveryPolicy
    encode: Encoder[C]
    decode: Decoder[C]
    to_provider: Callable[[OrderStatus, Side], ProviderEvent]
    from_provider: Callable[[ProviderEvent, Side | None], OrderStatus | None]
    provider_events: Callable[[Side], tuple[ProviderEvent, ...]]
    fields: Callable[[OrderStatus, Side], frozenset[str]]  # canonical fields the format carries
    credentials_from_secrets: Callable[[Sequence[str]], C]  # newest first

    ENCODABLE_TYPES: ClassVar[frozenset[str]] = frozenset(
        {*(f"order.{s.value}" for s in OrderStatus), "order.updated"}
    )

    def can_encode(self, event_type: str) -> bool:
        """Provider formats carry order states only; the standard one carries every event."""
        return self.name is DialectName.STANDARD or event_type in self.ENCODABLE_TYPES

    @classmethod
    def of_provider(
        cls,
        name: DialectName,
        provider: Provider,
        table: StatusTable,
        *,
        policy: DeliveryPolicy,
        encode: Encoder[C],
        decode: Decoder[C],
        fields: Callable[[OrderStatus, Side], frozenset[str]],
        credentials_from_secrets: Callable[[Sequence[str]], C],
    ) -> Dialect[C]:
        """A provider's dialect, its sides and status mappings read from its status table."""
        return cls(
            name=name,
            provider=provider,
            sides=table.sides,
            policy=policy,
            encode=encode,
            decode=decode,
            to_provider=table.to_provider,
            from_provider=table.from_provider,
            provider_events=table.provider_events,
            fields=fields,
            credentials_from_secrets=credentials_from_secrets,
        )


# --- helpers for the dialect modules ------------------------------------------------------------


def announced_status(event: EventLike, order: Order) -> OrderStatus:
    """The status an event announces: ``order.<status>`` names it, ``order.updated`` means the
    order's current status. Anything else has no provider equivalent."""
    if event.type == "order.updated":
        return order.status
    prefix, _, name = event.type.partition(".")
    if prefix == "order":
        try:
            return OrderStatus(name)
        except ValueError:
            pass
    raise UnsupportedEvent(f"provider formats carry order statuses only, not {event.type!r}")


def wire_order_id(order: Order, provider: Provider) -> str:
    """The provider's order id for an order of that provider, else rampwire's own ``ord_`` id."""
    if order.provider == provider and order.provider_order_id:
        return order.provider_order_id
    return order.id


def build_patch(raw: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Validate provider values into a patch, leaving out (and reporting) the fields that fail.

    An authentic event is never dropped because one nested object drifted from the schema.
    """
    values = {name: value for name, value in raw.items() if value is not None}
    try:
        return load_patch(values), ()
    except PatchError as exc:
        bad = {location.split(".")[0] for location, _ in exc.errors}
        issues = tuple(f"{location}: {message}" for location, message in exc.errors)
        return load_patch({k: v for k, v in values.items() if k not in bad}), issues


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusTable:
    """Both directions of a provider's status mapping, as plain tables.

    ``inbound`` lists every provider event the dialect knows, in lifecycle order. With ``loose``
    (Transak), an unlisted pair is read by its status alone, then by its event name alone.
    """

    provider: Provider
    outbound: Mapping[Side, Mapping[OrderStatus, ProviderEvent]]
    inbound: Mapping[ProviderEvent, OrderStatus]
    loose: bool = False
    # ``inbound`` by (name, status): a decoder looks its event up without making one
    _pairs: Mapping[tuple[str, str | None], OrderStatus] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        pairs = {(event.name, event.status): status for event, status in self.inbound.items()}
        object.__setattr__(self, "_pairs", pairs)
        for side, table in self.outbound.items():
            missing = set(OrderStatus) - set(table)
            if missing:
                raise ValueError(f"{self.provider.value} {side.value}: no event for {missing}")
            unknown = set(table.values()) - set(self.inbound)
            if unknown:
                raise ValueError(f"{self.provider.value} sends events it cannot read: {unknown}")

    @property
    def sides(self) -> frozenset[Side]:
        return frozenset(self.outbound)

    def to_provider(self, status: OrderStatus, side: Side) -> ProviderEvent:
        table = self.outbound.get(side)
        if table is None:
            raise UnsupportedEvent(f"{self.provider.value} has no {side.value} orders")
        return table[status]

    def from_provider(self, event: ProviderEvent, side: Side | None = None) -> OrderStatus | None:
        found = self.inbound.get(event)
        if found is not None or not self.loose:
            return found
        for attribute in ("status", "name"):
            wanted = getattr(event, attribute)
            for known, status in self.inbound.items():
                if wanted is not None and getattr(known, attribute) == wanted:
                    return status
        return None

    def status_of(self, name: str, status: str | None = None) -> OrderStatus | None:
        """``from_provider(ProviderEvent(name=name, status=status))``, without the event for a
        pair ``inbound`` lists."""
        found = self._pairs.get((name, status))
        if found is not None or not self.loose:
            return found
        return self.from_provider(ProviderEvent(name=name, status=status))

    def provider_events(self, side: Side) -> tuple[ProviderEvent, ...]:
        """The events a ``side`` order can show: those sent for it, then those never sent."""
        sent_here = set(self.outbound.get(side, {}).values())
        sent_anywhere = {e for table in self.outbound.values() for e in table.values()}
        return tuple(e for e in self.inbound if e in sent_here or e not in sent_anywhere)
