"""Typed records for the API's answers (pydantic models, read-only by convention).

Each names the fields a program reads most; every other field the server sends is kept
(``extra="allow"``: ``record.model_extra``, and ``record.model_dump()`` gives them all), so a
newer server's additions do not break an older client. Money is ``Decimal``, times are aware
``datetime``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Money(Record):
    currency: str
    amount: Decimal | None = None


class Crypto(Record):
    asset: str
    network: str | None = None
    amount: Decimal | None = None


class Order(Record):
    id: str
    status: str
    side: str
    version: int
    provider: str | None = None
    provider_order_id: str | None = None
    partner_id: str | None = None
    fiat: Money | None = None
    crypto: Crypto | None = None
    wallet_address: str | None = None
    transaction_hash: str | None = None
    references: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class Event(Record):
    """A canonical event envelope, as subscribers receive it."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]


class OrderChanged(Record):
    """The answer to a change: the order as it now is, and the event it produced (None when
    the change changed nothing)."""

    order: Order
    event: Event | None = None


class TimelineEntry(Record):
    seq: int
    kind: str
    recorded_at: datetime
    occurred_at: datetime
    status: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    version: int | None = None
    changed_fields: list[str] = Field(default_factory=list)
    event_ids: list[str] = Field(default_factory=list)
    note: str | None = None


class Timeline(Record):
    order_id: str
    data: list[TimelineEntry]


class Endpoint(Record):
    id: str
    url: str
    enabled: bool
    event_types: list[str]
    dialect: str
    ordering: str
    description: str | None = None
    disabled_reason: str | None = None
    partner_id: str | None = None
    partners: list[str] = Field(default_factory=list)
    secret: str | None = None  # only in the answer to a create
    created_at: datetime
    updated_at: datetime


class Secret(Record):
    secret: str
    created_at: datetime
    expires_at: datetime | None = None


class Delivery(Record):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    order_id: str | None = None
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    superseded_by: str | None = None
    blocked_by: str | None = None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[dict[str, Any]] | None = None  # only in get()


class ReplayResult(Record):
    replayed: int
    sent_again: int
    retried_now: int


class PendingEvent(Record):
    delivery_id: str
    event: Event


class Inbound(Record):
    id: str
    source_id: str
    provider: str
    outcome: str
    verification: str
    received_at: datetime
    processed_at: datetime | None = None
    detail: str | None = None
    provider_order_id: str | None = None
    provider_event: str | None = None
    order_id: str | None = None
    event_ids: list[str] = Field(default_factory=list)
    attempts: int = 0
    headers: dict[str, Any] | None = None  # only in get()
    body: str | None = None  # only in get()


class Source(Record):
    id: str
    provider: str
    name: str
    ingest_path: str
    enabled: bool
    credentials: list[str] = Field(default_factory=list)  # names only, never values
    options: dict[str, Any] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)
    partner_id: str | None = None
    created_at: datetime
    updated_at: datetime


class Partner(Record):
    id: str
    name: str
    status: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class ListenSession(Record):
    """A listen session (``rampwire listen``); ``secret`` is in the create answer only."""

    id: str
    event_types: list[str]
    dialect: str
    partner_id: str | None = None
    created_at: datetime
    read_at: datetime
    expires_at: datetime
    stream_url: str
    secret: str | None = None


class PortalLink(Record):
    url: str
    expires_at: datetime


class PartnerKey(Record):
    id: str
    partner_id: str
    name: str
    scope: str
    token: str  # shown once


class Authorization(Record):
    """An authorization callback's settings; secrets only as whether they are set."""

    url: str
    auth: dict[str, Any] = Field(default_factory=dict)
    operations: Any = None
    timeout_seconds: float | None = None
    failure_mode: str | None = None
    cache_ttl_seconds: float | None = None


class Decision(Record):
    """One authorization check: ``outcome`` (allowed, refused, timeout...), ``reason``."""

    id: str
    order_id: str | None = None
    decided_at: datetime | None = None
    outcome: str | None = None
    reason: str | None = None


class EventType(Record):
    type: str
    description: str
    schema_: dict[str, Any] = Field(alias="schema")


class IngestAnswer(Record):
    """``duplicate``: this request was logged before (nothing applied again); otherwise ``id``
    names the inbound record and ``order_id`` the order it touched."""

    received: bool
    duplicate: bool
    id: str | None = None
    order_id: str | None = None


__all__ = [
    "Authorization",
    "Crypto",
    "Decision",
    "Delivery",
    "Endpoint",
    "Event",
    "EventType",
    "Inbound",
    "IngestAnswer",
    "ListenSession",
    "Money",
    "Order",
    "OrderChanged",
    "Partner",
    "PartnerKey",
    "PendingEvent",
    "PortalLink",
    "Record",
    "ReplayResult",
    "Secret",
    "Source",
    "Timeline",
    "TimelineEntry",
]
